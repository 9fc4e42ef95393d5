// Durability of the real jobqd, with --data-dir and with --postgres:
// SIGKILL at random moments, restart, and every acknowledged job is still
// there; the log compacts under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/jobqd_process.h"
#include "tests/testing/pg_cluster.h"

namespace jobq::testing {
namespace {

using namespace std::chrono_literals;

// Where jobqd keeps its log: a data directory, or a schema of the test
// binary's PostgreSQL cluster (the parameter).
class DurableStorageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      PgCluster* cluster = PgCluster::Get();
      ASSERT_NE(cluster, nullptr);
      storage_ = {"--postgres", cluster->conninfo(), "--postgres-schema",
                  SchemaForTest()};
    } else {
      dir_ = TempPath("data");
      storage_ = {"--data-dir", dir_};
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // jobqd's flags: the storage, then `more`.
  std::vector<std::string> Args(std::vector<std::string> more = {}) {
    std::vector<std::string> args = storage_;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  std::vector<std::string> storage_;
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(Storage, DurableStorageTest,
                         ::testing::Values("file", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(DurableStorageTest, EveryAcknowledgedJobSurvivesTwentyKills) {
  // Twenty, but fewer in sanitizer builds (see tests/CMakeLists.txt).
  const int rounds = JOBQ_CRASH_ROUNDS;
  std::mt19937 rng(20261127);
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> acked;  // Guarded by mu.
  std::atomic<int> next_number{0};

  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(round);
    auto jobqd = JobqdProcess::Start(Args());
    ASSERT_NE(jobqd, nullptr);
    auto& c = jobqd->client();

    // Everything acknowledged before the kills is here; nothing else is.
    auto held = ListAll(c);
    {
      std::lock_guard lock(mu);
      for (const auto& id : acked) {
        ASSERT_TRUE(held.contains(id)) << "lost acknowledged job " << id;
      }
    }
    for (const auto& [id, job] : held) {
      int n = -1;
      ASSERT_TRUE(job.spec().labels().contains("n"));
      ASSERT_TRUE(absl::SimpleAtoi(job.spec().labels().at("n"), &n));
      ASSERT_LT(n, next_number.load()) << "a job nobody submitted: " << id;
    }

    // Producers submit until jobqd dies; it is killed after a random number
    // of acknowledgements of this round.
    const size_t kill_after = 100 + rng() % 1500;
    size_t acked_this_round = 0;
    std::atomic<bool> dead{false};
    auto produce = [&](unsigned seed) {
      std::mt19937 r(seed);
      while (!dead.load()) {
        std::vector<v1::JobSpec> batch;
        for (int i = 0; i < 50; ++i) {
          v1::JobSpec s = MakeSpec(r() % 4 == 0 ? "sleep" : "noop",
                                   absl::StrCat("q", r() % 3), "",
                                   static_cast<int32_t>(r() % 5));
          if (s.kind() == "sleep")
            s.set_payload(absl::StrCat(5 + r() % 50, "ms"));
          if (r() % 5 == 0)
            s.mutable_delay()->set_nanos(static_cast<int32_t>(r() % 500) *
                                         1'000'000);
          // A kill interrupts at most one run of a job, and a run lost
          // that way counts as an attempt (three of them end a job with
          // the default policy DEAD, by design): with more attempts than
          // kills, every job must succeed.
          s.mutable_retry()->set_max_attempts(rounds + 1);
          (*s.mutable_labels())["n"] = std::to_string(next_number.fetch_add(1));
          batch.push_back(std::move(s));
        }
        auto resp = c.SubmitBatch(batch);
        if (!resp.ok()) break;
        std::lock_guard lock(mu);
        for (const auto& result : resp->results()) {
          ASSERT_EQ(result.code(), 0) << result.message();
          acked.insert(result.job_id());
          ++acked_this_round;
        }
        cv.notify_all();
      }
    };
    std::thread p1(produce, rng()), p2(produce, rng());
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, 30s, [&] { return acked_this_round >= kill_after; });
    }
    EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);
    dead.store(true);
    p1.join();
    p2.join();
  }

  // A last start: every acknowledged job is there and runs to its end.
  auto jobqd = JobqdProcess::Start(Args());
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  // Watch every unfinished job to its end (the watch ends when they have).
  v1::WatchRequest unfinished;
  for (const auto& [id, job] : ListAll(c)) {
    if (job.state() != v1::JOB_STATE_SUCCEEDED) unfinished.add_job_ids(id);
  }
  if (unfinished.job_ids_size() > 0) {
    absl::Status s =
        c.Watch(unfinished, [](const v1::JobEvent&) { return true; });
    ASSERT_TRUE(s.ok()) << s;
  }
  auto held = ListAll(c);
  std::lock_guard lock(mu);
  EXPECT_GE(acked.size(), 100u * static_cast<size_t>(rounds));
  for (const auto& id : acked) {
    auto it = held.find(id);
    ASSERT_NE(it, held.end()) << "lost acknowledged job " << id;
    EXPECT_EQ(it->second.state(), v1::JOB_STATE_SUCCEEDED)
        << id << " after " << it->second.attempt()
        << " attempts: " << it->second.error();
  }
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
}

TEST_P(DurableStorageTest, CompactionUnderLoadKeepsLiveJobsAndBoundsTheLog) {
  auto jobqd = JobqdProcess::Start(
      Args({"--compact-min", "256KiB", "--max-finished", "1000"}));
  ASSERT_NE(jobqd, nullptr);
  auto& c = jobqd->client();
  // Live jobs that wait an hour.
  std::vector<v1::JobSpec> waiting(500, MakeSpec("noop", "later"));
  for (auto& s : waiting) s.mutable_delay()->set_seconds(3600);
  auto kept = c.SubmitBatch(waiting);
  ASSERT_TRUE(kept.ok());
  // Then a stream of jobs that run and are forgotten.
  std::vector<v1::JobSpec> batch(500, MakeSpec("noop", "churn"));
  uint64_t max_log = 0;
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(c.SubmitBatch(batch).ok());
    auto stats = c.GetStats();
    ASSERT_TRUE(stats.ok());
    max_log = std::max(max_log, stats->storage_stats().log_bytes());
  }
  auto stats = c.GetStats();
  ASSERT_TRUE(stats.ok());
  const auto& w = stats->storage_stats();
  // 30,000 jobs wrote several megabytes; the log stayed near its floor.
  EXPECT_GT(w.records_written(), 60'000u);
  EXPECT_LT(max_log, 2u << 20) << "log grew to " << max_log;
  EXPECT_TRUE(jobqd->WaitForLog(std::regex("compaction: .* old segments go")));
  EXPECT_EQ(jobqd->Stop(SIGKILL), 128 + SIGKILL);

  jobqd = JobqdProcess::Start(Args());
  ASSERT_NE(jobqd, nullptr);
  auto held = ListAll(jobqd->client());
  for (const auto& r : kept->results()) {
    auto it = held.find(r.job_id());
    ASSERT_NE(it, held.end()) << r.job_id();
    EXPECT_EQ(it->second.state(), v1::JOB_STATE_SCHEDULED);
  }
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Where each whole record of a segment starts, and its end, by the framing
// of docs/wal-format.md: a 16-byte header, then records of a 4-byte
// little-endian body length, a 4-byte checksum, a type byte and the body.
std::vector<size_t> RecordStarts(const std::string& seg) {
  std::vector<size_t> starts;
  size_t at = 16;
  while (at + 9 <= seg.size()) {
    uint32_t len =
        static_cast<uint8_t>(seg[at]) | static_cast<uint8_t>(seg[at + 1]) << 8 |
        static_cast<uint8_t>(seg[at + 2]) << 16 |
        static_cast<uint32_t>(static_cast<uint8_t>(seg[at + 3])) << 24;
    if (at + 9 + len > seg.size()) break;
    starts.push_back(at);
    at += 9 + len;
  }
  starts.push_back(at);  // The end of the last whole record.
  return starts;
}

// jobqd on `dir` until it exits by itself: its exit status and output; or
// -1 if it started serving instead (then it is stopped).
std::pair<int, std::string> RunUntilExit(const std::string& dir) {
  auto child =
      ChildProcess::Start({JOBQD_PATH, "--listen", "127.0.0.1:0",
                           "--http-listen", "127.0.0.1:0", "--data-dir", dir});
  if (child == nullptr) return {-2, "cannot start jobqd"};
  if (child->WaitForOutput(std::regex("listening on "))) {
    child->Stop(SIGTERM);
    return {-1, child->Output()};
  }
  int code = child->Stop(0);
  return {code, child->Output()};
}

TEST(DurabilityTest,
     DamagedOlderSegmentsStopStrictRecoveryAndSkipCorruptKeepsTheRest) {
  const std::string dir = TempPath("data");
  // Three runs of 300 jobs that wait an hour: three segments of 300
  // enqueue records each.
  for (int run = 0; run < 3; ++run) {
    auto jobqd = JobqdProcess::Start({"--data-dir", dir});
    ASSERT_NE(jobqd, nullptr);
    std::vector<v1::JobSpec> batch(100, MakeSpec("noop", "later"));
    for (auto& s : batch) s.mutable_delay()->set_seconds(3600);
    for (int b = 0; b < 3; ++b)
      ASSERT_TRUE(jobqd->client().SubmitBatch(batch).ok());
    EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
  }
  std::vector<std::string> segs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("wal-", 0) == 0) {
      segs.push_back(e.path().string());
    }
  }
  std::sort(segs.begin(), segs.end());
  ASSERT_EQ(segs.size(), 3u);
  for (const auto& seg : segs) {
    ASSERT_EQ(RecordStarts(ReadBytes(seg)).size(), 301u) << "one record a job";
  }

  // The oldest segment loses its last 1,000 bytes; 64 bytes in the middle of
  // the second are overwritten.
  std::string first = ReadBytes(segs[0]);
  first.resize(first.size() - 1000);
  WriteBytes(segs[0], first);
  std::vector<size_t> starts = RecordStarts(first);
  const size_t kept_first = starts.size() - 1;
  const size_t cut_at = starts.back();
  std::string second = ReadBytes(segs[1]);
  std::vector<size_t> second_starts = RecordStarts(second);
  const size_t at = second_starts[150] + 5;
  for (size_t i = 0; i < 64; ++i) second[at + i] = '\xee';
  WriteBytes(segs[1], second);
  size_t touched = 0;  // Records of the second segment the 64 bytes hit.
  for (size_t r = 0; r + 1 < second_starts.size(); ++r) {
    if (second_starts[r] < at + 64 && second_starts[r + 1] > at) ++touched;
  }

  // Strict (the default): jobqd refuses to start, naming file and offset.
  auto [code, out] = RunUntilExit(dir);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("DATA_LOSS"), std::string::npos) << out;
  EXPECT_NE(
      out.find(segs[0] + ": cut short at offset " + std::to_string(cut_at)),
      std::string::npos)
      << out;
  EXPECT_EQ(ReadBytes(segs[0]).size(), first.size()) << "strict cut a file";

  // Skip-corrupt: starts, keeps every whole record and reports the rest.
  auto jobqd =
      JobqdProcess::Start({"--data-dir", dir, "--recover", "skip-corrupt"});
  ASSERT_NE(jobqd, nullptr);
  const size_t want = kept_first + (300 - touched) + 300;
  EXPECT_EQ(ListAll(jobqd->client()).size(), want);
  std::printf(
      "recovered %zu of 900 jobs: %zu lost to the cut segment, %zu "
      "to the 64 garbage bytes\n",
      want, 300 - kept_first, touched);
  std::string log = jobqd->Log();
  EXPECT_NE(log.find("recovery DROPPED DATA: 2 damaged stretches"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("offset " + std::to_string(second_starts[150]) + " of " +
                     segs[1]),
            std::string::npos)
      << log;
  EXPECT_EQ(jobqd->Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

TEST(DurabilityTest, ASecondJobqdCannotOpenTheSameDataDirectory) {
  const std::string dir = TempPath("data");
  auto first = JobqdProcess::Start({"--data-dir", dir});
  ASSERT_NE(first, nullptr);
  auto second = JobqdProcess::StartExpectingFailure({"--data-dir", dir});
  EXPECT_NE(second.find("another jobqd uses this data directory"),
            std::string::npos)
      << second;
  EXPECT_EQ(first->Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace jobq::testing
