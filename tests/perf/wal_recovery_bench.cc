// Measures the write-ahead log: group-committed writes of N enqueue records
// and the recovery of N jobs from them. Prints figures; asserts nothing.
//   wal_recovery_bench [jobs=1000000] [dir=/tmp/jobq-wal-bench]
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/scheduler.h"
#include "store/wal.h"

namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jobq;
  const uint64_t jobs =
      argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const std::string dir = argc > 2 ? argv[2] : "/tmp/jobq-wal-bench";
  std::filesystem::remove_all(dir);

  store::WalOptions options;
  options.dir = dir;
  {
    auto wal = store::Wal::Open(options);
    if (!wal.ok()) {
      std::fprintf(stderr, "%s\n", wal.status().ToString().c_str());
      return 1;
    }
    if (!(*wal)->Recover([](const auto&) {}).ok()) return 1;
    std::mutex mu;
    std::condition_variable cv;
    uint64_t done = 0;
    auto started = (*wal)->Start([&](uint64_t batch, absl::Status s) {
      if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
      std::lock_guard lock(mu);
      done = batch;
      cv.notify_all();
    });
    if (!started.ok()) return 1;
    core::Scheduler scheduler(core::SchedulerOptions{}, nullptr);
    wal::v1::Transition t;
    const int64_t now = 1'700'000'000'000'000;
    auto t0 = std::chrono::steady_clock::now();
    uint64_t last = 0;
    for (uint64_t i = 0; i < jobs; ++i) {
      v1::JobSpec spec;
      spec.set_queue(i % 2 ? "emails" : "reports");
      spec.set_kind("noop");
      spec.set_payload(std::string(64, 'p'));
      spec.set_priority(static_cast<int32_t>(i % 10));
      scheduler.PrepareEnqueue(std::move(spec), now + static_cast<int64_t>(i),
                               &t);
      (*wal)->Append(t);
      // A core turn of 1,000 submits.
      if (i % 1000 == 999) last = (*wal)->Commit();
    }
    if (uint64_t id = (*wal)->Commit(); id != 0) last = id;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done >= last; });
    }
    double secs = Seconds(std::chrono::steady_clock::now() - t0);
    store::WalStats stats = (*wal)->Stats();
    std::printf(
        "write: %llu records, %.1f MiB, %llu fsyncs in %.2f s: %.0f records/s, "
        "fsync p50 %lld us p99 %lld us\n",
        static_cast<unsigned long long>(stats.records_written),
        stats.log_bytes / 1048576.0,
        static_cast<unsigned long long>(stats.fsyncs), secs,
        stats.records_written / secs,
        static_cast<long long>(stats.fsync_us.Quantile(0.5)),
        static_cast<long long>(stats.fsync_us.Quantile(0.99)));
    (*wal)->Stop();
  }
  {
    auto t0 = std::chrono::steady_clock::now();
    auto wal = store::Wal::Open(options);
    if (!wal.ok()) return 1;
    core::Scheduler scheduler(core::SchedulerOptions{}, nullptr);
    auto stats = (*wal)->Recover(
        [&](const wal::v1::Transition& t) { scheduler.Apply(t); });
    if (!stats.ok()) {
      std::fprintf(stderr, "%s\n", stats.status().ToString().c_str());
      return 1;
    }
    double secs = Seconds(std::chrono::steady_clock::now() - t0);
    std::printf(
        "recover: %zu jobs from %llu records (%.1f MiB) in %.2f s: %.0f "
        "jobs/s\n",
        scheduler.jobs().size(),
        static_cast<unsigned long long>(stats->records),
        stats->bytes / 1048576.0, secs, scheduler.jobs().size() / secs);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
