// jobqctl against a real jobqd.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using JobqctlTest = JobqdTest;

TEST_F(JobqctlTest, SubmitWaitStreamsEventsAndExitsZeroOnSuccess) {
  CommandRun r = Ctl("submit --kind noop --queue ctl --wait");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("READY"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RUNNING"), std::string::npos);
  EXPECT_NE(r.out.find("SUCCEEDED"), std::string::npos);
}

TEST_F(JobqctlTest, SubmitWaitExitsNonZeroWhenTheJobDoesNotSucceed) {
  CommandRun r = Ctl("submit --kind sleep --payload 5s --timeout 50ms --wait");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("DEAD"), std::string::npos) << r.out;
}

TEST_F(JobqctlTest, GetShowsTheJobAndJsonIsParseable) {
  CommandRun submitted =
      Ctl("submit --kind noop --queue ctl --priority 3 "
          "--delay 1h --label team=infra --payload hello");
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out;
  std::string id = submitted.out.substr(0, 16);
  CommandRun got = Ctl("get " + id);
  EXPECT_EQ(got.exit_code, 0) << got.out;
  EXPECT_NE(got.out.find("state:       SCHEDULED"), std::string::npos)
      << got.out;
  EXPECT_NE(got.out.find("priority:    3"), std::string::npos);
  EXPECT_NE(got.out.find("label:       team=infra"), std::string::npos);
  EXPECT_NE(got.out.find("payload:     5 bytes"), std::string::npos);
  CommandRun json = Ctl("--json get " + id);
  EXPECT_NE(json.out.find("\"state\":\"JOB_STATE_SCHEDULED\""),
            std::string::npos)
      << json.out;
  CommandRun cancelled = Ctl("cancel " + id);
  EXPECT_NE(cancelled.out.find("CANCELLED"), std::string::npos);
}

TEST_F(JobqctlTest, StatsQueuesAndQueueControlsWork) {
  ASSERT_EQ(Ctl("pause ctl").exit_code, 0);
  ASSERT_EQ(Ctl("limit ctl 4").exit_code, 0);
  ASSERT_EQ(Ctl("submit --kind noop --queue ctl").exit_code, 0);
  CommandRun stats = Ctl("stats");
  EXPECT_EQ(stats.exit_code, 0) << stats.out;
  EXPECT_NE(stats.out.find("storage memory"), std::string::npos) << stats.out;
  // Paused, limit 4, none waiting or scheduled, one ready.
  EXPECT_TRUE(std::regex_search(stats.out,
                                std::regex(R"(ctl\s+yes\s+4\s+0\s+0\s+1\s)")))
      << stats.out;
  CommandRun queues = Ctl("queues");
  EXPECT_NE(queues.out.find("ctl"), std::string::npos);
  CommandRun list = Ctl("list --queue ctl --state ready");
  EXPECT_NE(list.out.find("READY"), std::string::npos) << list.out;
  ASSERT_EQ(Ctl("resume ctl").exit_code, 0);
  CommandRun health = Ctl("health");
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_EQ(health.out, "SERVING\n");
}

TEST_F(JobqctlTest, ErrorsAreOneLineOnStderrWithANonZeroExit) {
  CommandRun r = Ctl("submit --kind 'no such kind'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.find("jobqctl: INVALID_ARGUMENT: job.kind: \"no such kind\" "
                       "does not match"),
            0u)
      << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  CommandRun missing = Ctl("get 00000000000000aa");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("NOT_FOUND"), std::string::npos);
  CommandRun usage = Ctl("list --state bogus");
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(JobqctlTest, EveryUsageErrorExitsTwo) {
  for (const char* args :
       {"", "nosuchverb", "submit", "submit --kind noop --priority x",
        "submit --kind noop --nosuchflag", "get", "limit", "limit q",
        "limit q notanumber", "submit --kind noop --delay -5s",
        "submit --kind noop --timeout bogus", "health --wait 0s",
        "token new x"}) {
    CommandRun r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << "jobqctl " << args << "\n" << r.out;
  }
  EXPECT_EQ(Ctl("--help").exit_code, 0);
  EXPECT_EQ(Ctl("queues --help").exit_code, 0);
}

TEST_F(JobqctlTest, GlobalFlagsAreAcceptedAfterTheVerb) {
  CommandRun queues = Ctl("queues --json");
  EXPECT_EQ(queues.exit_code, 0) << queues.out;
  EXPECT_EQ(queues.out.rfind("{", 0), 0u) << queues.out;
  // --addr after the verb wins over the one before it.
  CommandRun stats = RunCommand(std::string(JOBQCTL_PATH) +
                                " stats --timeout-ms 5000 --addr " +
                                jobqd_->address() + " --json");
  EXPECT_EQ(stats.exit_code, 0) << stats.out;
  EXPECT_NE(stats.out.find("\"version\""), std::string::npos) << stats.out;
}

TEST_F(JobqctlTest, LimitSetsMaxQueuedAloneAndKeepsTheConcurrency) {
  ASSERT_EQ(Ctl("pause lim").exit_code, 0);
  ASSERT_EQ(Ctl("limit lim 4").exit_code, 0);
  CommandRun r = Ctl("--json limit lim --max-queued 7");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"max_queued\":\"7\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"max_concurrency\":4"), std::string::npos) << r.out;
  CommandRun missing = Ctl("limit nosuch --max-queued 7");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("NOT_FOUND"), std::string::npos) << missing.out;
  CommandRun resume = Ctl("resume nosuch");
  EXPECT_EQ(resume.exit_code, 1);
  EXPECT_NE(resume.out.find("NOT_FOUND"), std::string::npos) << resume.out;
}

TEST_F(JobqctlTest, SubmitWaitPrintsTheJobIdFirst) {
  CommandRun r =
      RunCommand(std::string(JOBQCTL_PATH) + " --addr " + jobqd_->address() +
                 " submit --kind noop --wait 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_GE(r.out.size(), 17u) << r.out;
  std::string id = r.out.substr(0, 16);
  EXPECT_EQ(r.out[16], '\n') << r.out;
  auto job = c().GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status() << " for " << r.out;
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(JobqctlTest, HealthWaitReturnsOnceServing) {
  CommandRun r = Ctl("health --wait 10s");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "SERVING\n");
}

}  // namespace
}  // namespace jobq::testing
