#include "exec/worker_loop.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/testing/process.h"

namespace jobq::exec {
namespace {

using namespace std::chrono_literals;

// Collects results from the loop thread; tests wait on the arrival itself.
class Results {
 public:
  ResultSink Sink() {
    return [this](std::vector<core::RunResult>&& batch) {
      std::lock_guard lock(mu_);
      for (auto& r : batch) got_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  // Waits (up to 20 s) for `n` results.
  std::vector<core::RunResult> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return got_.size() >= n; });
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<core::RunResult> got_;
};

config::CommandConfig Command(std::vector<std::string> argv,
                              DurationUs timeout = 0) {
  config::CommandConfig c;
  c.argv = std::move(argv);
  c.timeout = timeout;
  return c;
}

core::Assignment Job(uint64_t seq, std::string kind, std::string payload = "",
                     DurationUs timeout = 0) {
  return core::Assignment{seq, 1, std::move(kind), std::move(payload), timeout};
}

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    commands_["cat"] = Command({"/bin/cat"});
    commands_["fail"] =
        Command({"/bin/sh", "-c", "echo bad input >&2; exit 4"});
    commands_["pid"] =
        Command({"/bin/sh", "-c", "sleep 100 & echo $! > \"$1\"; wait", "sh",
                 pidfile_});
    commands_["pid_timeout"] = Command(
        {"/bin/sh", "-c", "sleep 100 & echo $! > \"$1\"; wait", "sh", pidfile_},
        300 * kMillisecond);
    commands_["missing"] = Command({"/nonexistent/program"});
    commands_["big"] = Command({"/bin/sh", "-c", "head -c 100000 /dev/zero"});
    commands_["big"].max_output = 1000;
    loop_ = std::make_unique<WorkerLoop>(0, &commands_, results_.Sink());
    loop_->Start();
  }
  void TearDown() override {
    loop_->Stop();
    std::remove(pidfile_.c_str());
  }
  pid_t ReadPid() {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(pidfile_);
      pid_t pid = 0;
      if (in >> pid && pid > 0) return pid;
      std::this_thread::yield();
    }
    return 0;
  }

  // One per test process: ctest runs these tests side by side.
  std::string pidfile_ = ::testing::TempDir() + "/jobq_worker_loop_test." +
                         std::to_string(getpid()) + ".pid";
  CommandTable commands_;
  Results results_;
  std::unique_ptr<WorkerLoop> loop_;
};

TEST_F(WorkerLoopTest, NoopSucceedsAtOnce) {
  loop_->Run({Job(1, "noop")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].success);
  EXPECT_EQ(r[0].seq, 1u);
}

TEST_F(WorkerLoopTest, ManySleepsRunAtOnceOnOneThread) {
  std::vector<core::Assignment> jobs;
  for (uint64_t i = 1; i <= 2000; ++i) jobs.push_back(Job(i, "sleep", "200ms"));
  auto start = std::chrono::steady_clock::now();
  loop_->Run(std::move(jobs));
  auto r = results_.WaitFor(2000);
  ASSERT_EQ(r.size(), 2000u);
  for (const auto& res : r) EXPECT_TRUE(res.success);
  // Sequentially this would take 400 s; concurrently about 0.2 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
}

TEST_F(WorkerLoopTest, CommandGetsPayloadOnStdinAndReturnsStdout) {
  loop_->Run({Job(1, "cat", "hello jobq")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].success) << r[0].error;
  EXPECT_EQ(r[0].result, "hello jobq");
}

TEST_F(WorkerLoopTest, NonZeroExitFailsWithTheExitCodeAndStderr) {
  loop_->Run({Job(1, "fail")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].success);
  EXPECT_EQ(r[0].exit_code, 4);
  EXPECT_EQ(r[0].error, "exit status 4: bad input");
}

TEST_F(WorkerLoopTest, OutputIsCappedAtMaxOutput) {
  loop_->Run({Job(1, "big")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].success);
  EXPECT_EQ(r[0].result.size(), 1000u);
  EXPECT_EQ(r[0].error, "output truncated");
}

TEST_F(WorkerLoopTest, AProgramThatCannotStartFails) {
  loop_->Run({Job(1, "missing")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].success);
  EXPECT_NE(r[0].error.find("cannot start /nonexistent/program"),
            std::string::npos)
      << r[0].error;
}

TEST_F(WorkerLoopTest, TimeoutKillsTheWholeProcessGroup) {
  loop_->Run({Job(1, "pid_timeout")});
  pid_t grandchild = ReadPid();
  ASSERT_GT(grandchild, 0);
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].success);
  EXPECT_NE(r[0].error.find("timed out after 300ms"), std::string::npos)
      << r[0].error;
  EXPECT_TRUE(testing::WaitProcessGone(grandchild));
}

TEST_F(WorkerLoopTest, SleepLongerThanItsTimeoutFails) {
  loop_->Run({Job(1, "sleep", "10s", 50 * kMillisecond)});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].success);
  EXPECT_EQ(r[0].error, "timed out after 50ms");
}

TEST_F(WorkerLoopTest, CancelKillsARunningCommandWithoutAResult) {
  loop_->Run({Job(1, "pid")});
  pid_t grandchild = ReadPid();
  ASSERT_GT(grandchild, 0);
  loop_->Cancel(1, 1);
  EXPECT_TRUE(testing::WaitProcessGone(grandchild));
  // A later job's result arrives alone: the cancelled one reported nothing.
  loop_->Run({Job(2, "noop")});
  auto r = results_.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].seq, 2u);
}

TEST_F(WorkerLoopTest, StopKillsWhatStillRuns) {
  loop_->Run({Job(1, "pid")});
  pid_t grandchild = ReadPid();
  ASSERT_GT(grandchild, 0);
  loop_->Stop();
  EXPECT_TRUE(testing::WaitProcessGone(grandchild));
}

}  // namespace
}  // namespace jobq::exec
