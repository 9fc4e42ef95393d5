// Google Benchmark of the scheduler's queue operations at 1e3, 1e5 and 1e7
// jobs held: each must stay O(log n). Run by hand:
//   build/bin/queue_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

v1::JobSpec Spec(int32_t priority) {
  v1::JobSpec s;
  s.set_queue("q");
  s.set_kind("noop");
  s.set_priority(priority);
  return s;
}

SchedulerOptions Options() {
  SchedulerOptions o;
  o.max_finished = 0;  // Finished jobs leave at the next Tick.
  return o;
}

// Holds `n` READY jobs; each iteration submits one job and runs (starts and
// finishes) the highest.
void BM_SubmitAndPopHighest(benchmark::State& state) {
  Scheduler s(Options(), nullptr);
  std::mt19937 rng(1);
  TimeUs now = kT0;
  for (int64_t i = 0; i < state.range(0); ++i) {
    s.Submit(Spec(static_cast<int32_t>(rng() % 100)), now);
  }
  for (auto _ : state) {
    s.Submit(Spec(static_cast<int32_t>(rng() % 100)), ++now);
    auto run = s.TakeRunnable(now, 1);
    s.Finish({run[0].seq, run[0].attempt, true, "", "", 0}, now);
    s.Tick(now);  // Forgets the finished job.
  }
  state.SetItemsProcessed(state.iterations());
}

// Holds `n` READY jobs; each iteration cancels one and submits another.
void BM_Cancel(benchmark::State& state) {
  Scheduler s(Options(), nullptr);
  std::mt19937 rng(2);
  TimeUs now = kT0;
  std::vector<uint64_t> live;
  for (int64_t i = 0; i < state.range(0); ++i) {
    live.push_back(s.Submit(Spec(static_cast<int32_t>(rng() % 100)), now).seq);
  }
  for (auto _ : state) {
    size_t k = rng() % live.size();
    benchmark::DoNotOptimize(s.Cancel(live[k], ++now));
    live[k] = s.Submit(Spec(static_cast<int32_t>(rng() % 100)), now).seq;
    s.Tick(now);  // Forgets the cancelled job.
  }
  state.SetItemsProcessed(state.iterations());
}

// Holds `n` SCHEDULED jobs, one due per microsecond; each iteration moves the
// clock so that one is promoted, runs it and schedules another.
void BM_DelayPromotion(benchmark::State& state) {
  Scheduler s(Options(), nullptr);
  TimeUs now = kT0;
  int64_t n = state.range(0);
  v1::JobSpec delayed = Spec(0);
  for (int64_t i = 1; i <= n; ++i) {
    delayed.mutable_delay()->set_nanos(static_cast<int32_t>(i % 1000) * 1000);
    delayed.mutable_delay()->set_seconds(i / 1000);
    s.Submit(delayed, now);
  }
  for (auto _ : state) {
    now += 1;
    s.Tick(now);
    for (auto& a : s.TakeRunnable(now, 1)) {
      s.Finish({a.seq, a.attempt, true, "", "", 0}, now);
    }
    delayed.mutable_delay()->set_seconds(n / 1000);
    delayed.mutable_delay()->set_nanos(static_cast<int32_t>(n % 1000) * 1000);
    s.Submit(delayed, now);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_SubmitAndPopHighest)
    ->Arg(1'000)
    ->Arg(100'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Cancel)
    ->Arg(1'000)
    ->Arg(100'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_DelayPromotion)
    ->Arg(1'000)
    ->Arg(100'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace jobq::core

BENCHMARK_MAIN();
