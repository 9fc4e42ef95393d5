// jobq-bench against a real jobqd: it runs each ingest path and reports.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>

#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

CommandRun RunBench(const std::string& args) {
  return RunCommand(std::string(JOBQ_BENCH_PATH) + " " + args);
}

TEST(BenchTest, IngestRunsEveryPathAndEveryJobArrives) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto [code, out] = RunBench("--addr " + jobqd->address() +
                              " --json ingest -n 3000 --batch 100 -c 4");
  EXPECT_EQ(code, 0) << out;
  for (const char* path : {"ingest/submit", "ingest/batch", "ingest/stream"}) {
    std::regex line(std::string("\\{\"scenario\":\"") + path +
                    "[^\"]*\",\"jobs\":3000,\"errors\":0,.*\"p99\":");
    EXPECT_TRUE(std::regex_search(out, line)) << path << "\n" << out;
  }
  auto stats = jobqd->client().GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total().submitted_total(), 9000u);
}

TEST(BenchTest, E2eLatencyAndFanoutSeeEveryJobFinish) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  std::string addr = "--addr " + jobqd->address() + " --json ";
  struct Case {
    std::string args;
    std::string scenario;
    int jobs;
  } cases[] = {
      {"e2e -n 2000 --streams 2", "e2e/stream", 2000},
      {"e2e -n 2000 --streams 2 --remote --workers 2 --worker-concurrency 50",
       "e2e/stream[^\"]* on 2 remote workers x 50", 2000},
      {"latency --rate 500 --duration 1", "latency", 500},
      {"fanout -n 500 --sleep 200ms", "fanout", 500},
  };
  for (const auto& c : cases) {
    auto [code, out] = RunBench(addr + c.args);
    EXPECT_EQ(code, 0) << c.args << "\n" << out;
    std::regex line("\\{\"scenario\":\"" + c.scenario +
                    "[^\"]*\",\"jobs\":" + std::to_string(c.jobs) +
                    ",\"errors\":0,.*\"done_ms\":\\{\"p50\":[0-9.]+");
    EXPECT_TRUE(std::regex_search(out, line)) << c.args << "\n" << out;
  }
}

// jobqd times each hop of a job; --breakdown reads the hops of its own run
// and leaves what it cannot see to the rest.
TEST(BenchTest, LatencyBreakdownReportsEveryHopAJobPasses) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  // Jobs from before the run are not counted in it.
  ASSERT_TRUE(RunBench("--addr " + jobqd->address() +
                       " latency --rate 300 --duration 1")
                  .exit_code == 0);
  CommandRun run = RunBench("--addr " + jobqd->address() +
                            " --json latency --rate 400 --duration 1 "
                            "--breakdown");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const std::string& out = run.out;
  auto count = [&out](const std::string& hop) -> long {
    std::smatch m;
    if (!std::regex_search(
            out, m, std::regex("\"" + hop + "\":\\{\"count\":([0-9]+),"))) {
      return -1;
    }
    return std::stol(m[1]);
  };
  // Each job is due, sent and run once: exactly 400 of each in this run.
  EXPECT_EQ(count("wake"), 400) << out;
  EXPECT_EQ(count("send"), 400) << out;
  EXPECT_EQ(count("run"), 400) << out;
  // Each submit is one post to the core (GetStats adds its own).
  EXPECT_GE(count("receive"), 400) << out;
  for (const char* hop : {"queued", "write", "turn"}) {
    EXPECT_GE(count(hop), 1) << hop << "\n" << out;
  }
  // noops are run by the core itself: no hand-off to a worker loop and
  // back (the metrics test sees those hops with sleep jobs).
  EXPECT_EQ(count("dispatch"), -1) << out;
  EXPECT_EQ(count("result"), -1) << out;
  // Memory mode writes no log.
  EXPECT_EQ(out.find("\"log\":"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("\"rest_p50\":-?[0-9]+\\}")))
      << out;
  // The same in text, as a table.
  auto text = RunBench("--addr " + jobqd->address() +
                       " latency --rate 200 --duration 1 --breakdown");
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_TRUE(std::regex_search(
      text.out, std::regex("\n  run +200 +[0-9]+ +[0-9]+ +[0-9]+")))
      << text.out;
}

TEST(BenchTest, MemoryReportsBytesPerQueuedJobAndRunsThemAll) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto [code, out] =
      RunBench("--addr " + jobqd->address() + " --json memory -n 3000");
  EXPECT_EQ(code, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m,
      std::regex(
          "\\{\"scenario\":\"memory\",\"jobs\":3000,.*"
          "\"bytes_per_queued_job\":(-?[0-9]+),.*\"completed\":3000\\}")))
      << out;
  auto stats = jobqd->client().GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->resident_memory_bytes(), 1u << 20);
  EXPECT_EQ(stats->total().succeeded(), 3000u);
}

TEST(BenchTest, ListLoadListsTheHeldQueueWhileEverySubmitIsAcked) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto [code, out] =
      RunBench("--addr " + jobqd->address() +
               " --json list-load --jobs 2000 --page-size 500 --rate 200 "
               "--duration 1 --lister-nice 5");
  EXPECT_EQ(code, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m,
      std::regex("\\{\"scenario\":\"list-load[^\"]*\",\"jobs\":200,"
                 "\"errors\":0,.*\"ack_ms\":\\{\"p50\":[0-9.]+.*"
                 "\"list\":\\{\"pages\":([0-9]+),.*\"jobs\":([0-9]+),"
                 "\"errors\":0,")))
      << out;
  uint64_t pages = std::stoull(m[1]), listed = std::stoull(m[2]);
  EXPECT_GT(pages, 0u);
  // 2,000 jobs make four full pages a pass, and the lister starts over.
  EXPECT_EQ(listed, pages * 500) << out;
  auto stats = jobqd->client().GetStats();
  ASSERT_TRUE(stats.ok());
  // The listed jobs stayed queued; the submitted ones were all accepted.
  EXPECT_EQ(stats->total().submitted_total(), 2200u);
  uint64_t held_ready = 0;
  for (const auto& q : stats->queues()) {
    if (q.name().rfind("listed-", 0) == 0) held_ready = q.ready();
  }
  EXPECT_EQ(held_ready, 2000u);
}

TEST(BenchTest, AnUnreachableServerIsOneClearError) {
  auto [code, out] = RunBench("--addr 127.0.0.1:1 ingest -n 10");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("jobq-bench: 127.0.0.1:1:"), std::string::npos) << out;
}

}  // namespace
}  // namespace jobq::testing
