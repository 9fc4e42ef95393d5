// Command kinds of the real jobqd: output, failure, retry, timeout, cancel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pidfile_ = TempPath("pid");
    jobqd_ = JobqdProcess::Start({}, R"(
commands:
  upper:
    argv: ["/usr/bin/tr", "a-z", "A-Z"]
  flaky:
    argv: ["/bin/sh", "-c", "echo \"attempt $JOBQ_ATTEMPT failed\" >&2; exit 7"]
  stuck:
    argv: ["/bin/sh", "-c", "sleep 300 & echo $! > )" +
                                         pidfile_ + R"(; wait"]
    timeout: 500ms
  longrun:
    argv: ["/bin/sh", "-c", "sleep 300 & echo $! > )" +
                                         pidfile_ + R"(; wait"]
)");
    ASSERT_NE(jobqd_, nullptr);
  }
  void TearDown() override { std::remove(pidfile_.c_str()); }

  std::vector<v1::JobEvent> RunAndWatch(const v1::JobSpec& spec) {
    std::vector<v1::JobEvent> events;
    absl::Status s = jobqd_->client().SubmitAndWatch(spec, [&](const auto& e) {
      events.push_back(e);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return events;
  }
  pid_t ReadPid() {
    std::ifstream in(pidfile_);
    pid_t pid = 0;
    in >> pid;
    return pid;
  }

  std::string pidfile_;
  std::unique_ptr<JobqdProcess> jobqd_;
};

TEST_F(CommandsTest, StdoutOfTheCommandIsTheResult) {
  auto events = RunAndWatch(MakeSpec("upper", "", "hello, jobq"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(events.back().result(), "HELLO, JOBQ");
  auto job = jobqd_->client().GetJob(events.back().job_id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->result(), "HELLO, JOBQ");
}

TEST_F(CommandsTest, AFailingCommandIsRetriedThenDead) {
  v1::JobSpec spec = MakeSpec("flaky");
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_nanos(10'000'000);
  auto events = RunAndWatch(spec);
  std::vector<v1::JobState> states;
  for (auto& e : events) states.push_back(e.state());
  using S = v1::JobState;
  EXPECT_EQ(
      states,
      (std::vector<S>{
          v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING, v1::JOB_STATE_FAILED,
          v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
          v1::JOB_STATE_FAILED, v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_READY,
          v1::JOB_STATE_RUNNING, v1::JOB_STATE_FAILED, v1::JOB_STATE_DEAD}));
  EXPECT_EQ(events.back().attempt(), 3);
  EXPECT_EQ(events.back().exit_code(), 7);
  EXPECT_EQ(events.back().error(), "exit status 7: attempt 3 failed");
}

TEST_F(CommandsTest, ATimedOutCommandIsKilledWithItsChildren) {
  auto events = RunAndWatch(MakeSpec("stuck"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), v1::JOB_STATE_DEAD);
  EXPECT_NE(events.back().error().find("timed out after 500ms"),
            std::string::npos);
  pid_t child = ReadPid();
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitProcessGone(child));
}

TEST_F(CommandsTest, CancellingARunningCommandKillsIt) {
  auto& c = jobqd_->client();
  std::vector<v1::JobState> states;
  pid_t child = 0;
  absl::Status s = c.SubmitAndWatch(MakeSpec("longrun"), [&](const auto& e) {
    states.push_back(e.state());
    if (e.state() == v1::JOB_STATE_RUNNING) {
      // The command writes its child's pid at once; wait for the file.
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while ((child = ReadPid()) == 0 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      auto cancelled = c.CancelJob(e.job_id());
      EXPECT_TRUE(cancelled.ok()) << cancelled.status();
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(states.back(), v1::JOB_STATE_CANCELLED);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitProcessGone(child));
}

// Commands run with a clean environment, under their resource limits, and,
// when jobqd runs as root, as the unprivileged command user.
TEST(CommandSandboxTest, ACommandRunsAsNobodyWithACleanEnvironmentAndLimits) {
  setenv("JOBQ_TEST_SECRET", "from-the-parent", 1);  // Must not leak.
  auto jobqd = JobqdProcess::Start({"--command-user", "nobody"}, R"(
command_limits: {open_files: 64}
commands:
  sandbox:
    argv: ["/bin/sh", "-c", "id -un; id -G; env | sort; ulimit -n; ulimit -t; ulimit -v"]
    env: {GREETING: hi}
    limits: {cpu: 7s, address_space: 512MiB}
  spin:
    argv: ["/bin/sh", "-c", "while :; do :; done"]
    limits: {cpu: 1s}
)");
  unsetenv("JOBQ_TEST_SECRET");
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  v1::JobEvent last = RunToEnd(c, MakeSpec("sandbox"));
  std::string result = last.result() + last.error();
  ASSERT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED) << result;
  std::vector<std::string> lines = absl::StrSplit(result, '\n');
  ASSERT_GE(lines.size(), 4u) << result;
  if (geteuid() == 0) {
    EXPECT_EQ(lines[0], "nobody");
    EXPECT_EQ(lines[1], "65534") << "supplementary groups are dropped";
    EXPECT_THAT(jobqd->Log(),
                ::testing::HasSubstr("commands run as uid 65534 gid 65534"));
  }
  // The environment: PATH, the job's own variables and the configured
  // ones; nothing of jobqd's (the shell adds PWD and the like).
  EXPECT_THAT(result, ::testing::HasSubstr("\nGREETING=hi\n"));
  EXPECT_THAT(result, ::testing::HasSubstr("\nJOBQ_ATTEMPT=1\n"));
  EXPECT_THAT(result,
              ::testing::HasSubstr("\nPATH=/usr/local/bin:/usr/bin:/bin\n"));
  EXPECT_THAT(result, ::testing::Not(::testing::HasSubstr("JOBQ_TEST_SECRET")));
  EXPECT_THAT(result, ::testing::Not(::testing::HasSubstr("HOME=/root")));
  // Limits: open files from the defaults, CPU and address space its own.
  EXPECT_THAT(result, ::testing::EndsWith("64\n7\n524288\n"));
  // A command past its CPU seconds is stopped by the kernel.
  last = RunToEnd(c, MakeSpec("spin"));
  EXPECT_EQ(last.state(), v1::JOB_STATE_DEAD);
  EXPECT_THAT(last.error(), ::testing::HasSubstr("signal"));
}

TEST(CommandSandboxTest, AUserThatCannotBeUsedStopsTheStart) {
  if (geteuid() != 0) GTEST_SKIP() << "jobqd switches users only as root";
  const std::string commands = "commands:\n  x:\n    argv: [/bin/true]\n";
  std::string path = TempPath("jobqd.yaml");
  std::ofstream(path) << commands;
  std::string out = JobqdProcess::StartExpectingFailure(
      {"--config", path, "--command-user", "no-such-user-here"});
  EXPECT_THAT(
      out, ::testing::HasSubstr("command_user: no user \"no-such-user-here\""));
  out = JobqdProcess::StartExpectingFailure(
      {"--config", path, "--command-user", "root"});
  EXPECT_THAT(out, ::testing::HasSubstr("command_user: \"root\" is root"));
  out = JobqdProcess::StartExpectingFailure(
      {"--config", path, "--command-group", "root"});
  EXPECT_THAT(out,
              ::testing::HasSubstr("command_group: \"root\" is root's group"));
}

}  // namespace
}  // namespace jobq::testing
