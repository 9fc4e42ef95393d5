// /metrics, /readyz and health of the real jobqd.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <thread>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

using namespace std::chrono_literals;

TEST(MetricsTest, MetricsMoveAsJobsFlowAndPromtoolAcceptsThePage) {
  auto jobqd = JobqdProcess::Start({"--data-dir", TempPath("data")});
  ASSERT_NE(jobqd, nullptr);
  ASSERT_GT(jobqd->http_port(), 0);
  auto& c = jobqd->client();
  std::string before = HttpGet(jobqd->http_port(), "/metrics");
  EXPECT_EQ(
      MetricSample(before, "jobq_jobs_submitted_total{queue=\"default\"}"), -1);

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        c.SubmitAndWatch(MakeSpec("noop"), [](auto&) { return true; }).ok());
  }
  v1::JobSpec nap = MakeSpec("sleep", "nap");
  nap.set_payload("0s");
  ASSERT_TRUE(c.SubmitAndWatch(nap, [](auto&) { return true; }).ok());
  ASSERT_TRUE(c.PauseQueue("held").ok());
  ASSERT_TRUE(c.Submit(MakeSpec("noop", "held")).ok());
  EXPECT_FALSE(c.Submit(MakeSpec("no pe")).ok());
  ASSERT_TRUE(c.Submit(MakeSpec("thumbnail", "img")).ok());  // No worker.

  std::string page = HttpGet(jobqd->http_port(), "/metrics");
  EXPECT_EQ(MetricSample(page, "jobq_jobs_submitted_total{queue=\"default\"}"),
            5);
  EXPECT_EQ(MetricSample(page, "jobq_jobs_started_total{queue=\"default\"}"),
            5);
  EXPECT_EQ(
      MetricSample(
          page,
          "jobq_jobs_finished_total{queue=\"default\",outcome=\"succeeded\"}"),
      5);
  EXPECT_EQ(
      MetricSample(page, "jobq_queue_jobs{queue=\"held\",state=\"ready\"}"), 1);
  EXPECT_EQ(MetricSample(page, "jobq_queue_paused{queue=\"held\"}"), 1);
  EXPECT_EQ(MetricSample(page, "jobq_remote_jobs_waiting{kind=\"thumbnail\"}"),
            1);
  EXPECT_EQ(MetricSample(page, "jobq_remote_capacity{kind=\"thumbnail\"}"), 0);
  EXPECT_EQ(MetricSample(page, "jobq_remote_workers"), 0);
  EXPECT_EQ(
      MetricSample(page, "jobq_job_run_time_seconds_count{queue=\"default\"}"),
      5);
  EXPECT_EQ(
      MetricSample(
          page,
          "jobq_job_total_time_seconds_bucket{queue=\"default\",le=\"+Inf\"}"),
      5);
  EXPECT_EQ(
      MetricSample(page,
                   "jobq_grpc_requests_total{service=\"jobq.v1.JobService\","
                   "method=\"Submit\",code=\"INVALID_ARGUMENT\"}"),
      1);
  EXPECT_EQ(
      MetricSample(page,
                   "jobq_grpc_requests_total{service=\"jobq.v1.JobService\","
                   "method=\"SubmitAndWatch\",code=\"OK\"}"),
      6);  // The five noops and the sleep.
  // Hops: the five runs, the log's commits; the sleep job went to a
  // worker loop and back (noops are run by the core itself).
  EXPECT_EQ(MetricSample(page, "jobq_hop_seconds_count{hop=\"run\"}"), 6);
  EXPECT_EQ(
      MetricSample(page, "jobq_hop_seconds_bucket{hop=\"run\",le=\"+Inf\"}"),
      6);
  EXPECT_EQ(MetricSample(page, "jobq_hop_seconds_count{hop=\"dispatch\"}"), 1);
  EXPECT_EQ(MetricSample(page, "jobq_hop_seconds_count{hop=\"result\"}"), 1);
  EXPECT_GE(MetricSample(page, "jobq_hop_seconds_count{hop=\"log\"}"), 1);
  EXPECT_GE(MetricSample(page, "jobq_hop_seconds_count{hop=\"receive\"}"), 7);
  EXPECT_GT(MetricSample(page, "jobq_wal_bytes"), 16);
  EXPECT_GE(MetricSample(page, "jobq_wal_fsyncs_total"), 1);
  EXPECT_GT(MetricSample(page, "jobq_wal_group_commit_records_count"), 0);
  EXPECT_GT(MetricSample(page, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(MetricSample(page, "process_open_fds"), 3);

  std::string file = TempPath("metrics.txt");
  std::ofstream(file) << page;
  int rc = std::system(
      ("promtool check metrics < " + file + " > " + file + ".out 2>&1")
          .c_str());
  std::ifstream out(file + ".out");
  std::string report((std::istreambuf_iterator<char>(out)), {});
  EXPECT_EQ(rc, 0) << report;
  std::remove(file.c_str());
  std::remove((file + ".out").c_str());
}

TEST(MetricsTest, ReadinessAndHealthTurnNotServingWhileShuttingDown) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  int status = 0;
  EXPECT_EQ(HttpGet(jobqd->http_port(), "/readyz", &status), "ready\n");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(HttpGet(jobqd->http_port(), "/healthz", &status), "ok\n");

  // A running job holds the shutdown open for a while.
  std::thread watcher([&] {
    (void)c.SubmitAndWatch(MakeSpec("sleep", "", "2s"), [&](const auto& e) {
      if (e.state() == v1::JOB_STATE_RUNNING) kill(jobqd->pid(), SIGTERM);
      return true;
    });
  });
  std::string body;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    body = HttpGet(jobqd->http_port(), "/readyz", &status);
  } while (status != 503 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body, "shutting down\n");
  auto healthy = c.Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_FALSE(*healthy);
  watcher.join();
  EXPECT_EQ(jobqd->Stop(0), 0);
}

TEST(MetricsTest, JobqctlStatsWatchRefreshes) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto [code, out] = jobqd->Ctl("stats --watch --interval 50ms --count 3");
  EXPECT_EQ(code, 0) << out;
  size_t screens = 0;
  for (size_t pos = 0;
       (pos = out.find("\033[H\033[2J", pos)) != std::string::npos; ++pos) {
    ++screens;
  }
  EXPECT_EQ(screens, 3u) << out;
  EXPECT_NE(out.find("storage memory"), std::string::npos);
}

}  // namespace
}  // namespace jobq::testing
