#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct Log : TransitionLog {
  void Append(const wal::v1::Transition& t) override { records.push_back(t); }
  std::vector<wal::v1::Transition> records;
};

v1::JobSpec Spec(std::string queue = "q", std::string key = "") {
  v1::JobSpec s;
  s.set_queue(std::move(queue));
  s.set_kind("noop");
  s.set_idempotency_key(std::move(key));
  return s;
}

SchedulerOptions Options() {
  SchedulerOptions o;
  o.random = [] { return 0.0; };
  return o;
}

// Submits a job that runs once and fails for good: DEAD at `now`.
uint64_t Dead(Scheduler& s, TimeUs now, const std::string& queue = "q") {
  uint64_t seq = s.Submit(Spec(queue), now).seq;
  auto run = s.TakeRunnable(now, 1000);
  for (const auto& a : run) {
    s.Finish({a.seq, a.attempt, false, "", "boom", 1}, now);
  }
  return seq;
}

uint64_t Succeeded(Scheduler& s, TimeUs now) {
  uint64_t seq = s.Submit(Spec(), now).seq;
  for (const auto& a : s.TakeRunnable(now, 1000)) {
    s.Finish({a.seq, a.attempt, true, "", "", 0}, now);
  }
  return seq;
}

TEST(SchedulerLifecycleTest, DeadJobsOutliveTheRetentionOfFinishedOnes) {
  SchedulerOptions o = Options();
  o.retention = 60 * kSecond;
  o.max_finished = 1;
  o.dead_retention = 3600 * kSecond;
  Scheduler s(o, nullptr);
  uint64_t dead = Dead(s, kT0);
  ASSERT_EQ(s.Find(dead)->state, v1::JOB_STATE_DEAD);
  uint64_t ok1 = Succeeded(s, kT0);
  uint64_t ok2 = Succeeded(s, kT0 + 1);
  s.Tick(kT0 + 2);
  // max_finished = 1 dropped a successful job, not the DEAD one.
  EXPECT_EQ(s.Find(ok1), nullptr);
  EXPECT_NE(s.Find(ok2), nullptr);
  EXPECT_NE(s.Find(dead), nullptr);
  s.Tick(kT0 + 61 * kSecond);
  EXPECT_EQ(s.Find(ok2), nullptr);
  EXPECT_NE(s.Find(dead), nullptr);
  EXPECT_EQ(s.Tick(kT0 + 61 * kSecond), kT0 + 3600 * kSecond);
  s.Tick(kT0 + 3600 * kSecond);
  EXPECT_EQ(s.Find(dead), nullptr);
  EXPECT_EQ(s.dead_dropped(), 0u);  // Retention is no drop.
}

TEST(SchedulerLifecycleTest,
     PastMaxDeadTheOldestAreDroppedCountedOncePerCrossing) {
  SchedulerOptions o = Options();
  o.max_dead = 2;
  Scheduler s(o, nullptr);
  uint64_t a = Dead(s, kT0);
  uint64_t b = Dead(s, kT0 + 1);
  s.Tick(kT0 + 2);
  EXPECT_EQ(s.dead_cap_crossings(), 0u);
  uint64_t c = Dead(s, kT0 + 3);
  uint64_t d = Dead(s, kT0 + 4);
  s.Tick(kT0 + 5);
  EXPECT_EQ(s.Find(a), nullptr);
  EXPECT_EQ(s.Find(b), nullptr);
  EXPECT_NE(s.Find(c), nullptr);
  EXPECT_NE(s.Find(d), nullptr);
  EXPECT_EQ(s.dead_dropped(), 2u);
  EXPECT_EQ(s.FindQueue("q")->dead_dropped_total, 2u);
  EXPECT_EQ(s.dead_cap_crossings(), 1u);
  uint64_t e = Dead(s, kT0 + 6);
  s.Tick(kT0 + 7);
  EXPECT_EQ(s.dead_dropped(), 3u);
  EXPECT_EQ(s.Find(c), nullptr);
  EXPECT_EQ(s.dead_cap_crossings(), 1u);  // Still the same crossing.
  ASSERT_TRUE(s.DeleteJob(d).ok());
  ASSERT_TRUE(s.DeleteJob(e).ok());
  s.Tick(kT0 + 8);
  Dead(s, kT0 + 9);
  Dead(s, kT0 + 10);
  s.Tick(kT0 + 11);
  EXPECT_EQ(s.dead_cap_crossings(), 1u);  // At the cap, nothing dropped.
  Dead(s, kT0 + 12);
  s.Tick(kT0 + 13);
  EXPECT_EQ(s.dead_cap_crossings(), 2u);  // Below the cap, then over again.
}

TEST(SchedulerLifecycleTest, RetryRunsADeadJobAgainWithFreshAttempts) {
  Scheduler s(Options(), nullptr);
  uint64_t seq = Dead(s, kT0);
  auto retried = s.RetryJob(seq, kT0 + kSecond);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ((*retried)->state, v1::JOB_STATE_READY);
  EXPECT_EQ((*retried)->attempt, 0);
  EXPECT_EQ(s.live(), 1u);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_DEAD], 0u);
  auto run = s.TakeRunnable(kT0 + kSecond, 10);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(s.Find(seq)->attempt, 1);
  ASSERT_TRUE(s.Finish({seq, 1, true, "ok", "", 0}, kT0 + kSecond));
  EXPECT_EQ(s.Find(seq)->state, v1::JOB_STATE_SUCCEEDED);
}

TEST(SchedulerLifecycleTest, RetryAndDeleteRefuseJobsInTheWrongState) {
  Scheduler s(Options(), nullptr);
  s.PauseQueue("held", true);
  uint64_t ready = s.Submit(Spec("held"), kT0).seq;
  EXPECT_EQ(s.RetryJob(ready, kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.DeleteJob(ready).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.RetryJob(12345, kT0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(s.DeleteJob(12345).code(), absl::StatusCode::kNotFound);
  uint64_t ok = Succeeded(s, kT0);
  EXPECT_EQ(s.RetryJob(ok, kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.Cancel(ready, kT0).ok());
  ASSERT_TRUE(s.RetryJob(ready, kT0).ok());  // CANCELLED runs again.
  EXPECT_TRUE(s.DeleteJob(ok).ok());
  EXPECT_EQ(s.Find(ok), nullptr);
}

TEST(SchedulerLifecycleTest, IdempotencyKeysOutliveTheirJobsForTheirWindow) {
  SchedulerOptions o = Options();
  o.idempotency_window = 3600 * kSecond;
  Scheduler s(o, nullptr);
  uint64_t first = s.Submit(Spec("q", "k"), kT0).seq;
  for (const auto& a : s.TakeRunnable(kT0, 10)) {
    s.Finish({a.seq, 1, true, "", "", 0}, kT0);
  }
  ASSERT_TRUE(s.DeleteJob(first).ok());
  auto again = s.Submit(Spec("q", "k"), kT0 + 10 * kSecond);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, first);
  EXPECT_EQ(s.Tick(kT0 + 10 * kSecond), kT0 + 3600 * kSecond);
  s.Tick(kT0 + 3600 * kSecond);
  EXPECT_FALSE(s.Submit(Spec("q", "k"), kT0 + 3600 * kSecond).duplicate);
}

TEST(SchedulerLifecycleTest, RetryDeadAndPurgeWorkInBoundedSteps) {
  Scheduler s(Options(), nullptr);
  for (int i = 0; i < 5; ++i) Dead(s, kT0 + i);
  Dead(s, kT0, "other");
  EXPECT_EQ(s.RetryDeadStep("q", 2, kT0 + 10), 2u);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_DEAD], 3u);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_READY], 2u);
  EXPECT_EQ(s.RetryDeadStep("q", 10, kT0 + 10), 3u);
  EXPECT_EQ(s.FindQueue("other")->by_state[v1::JOB_STATE_DEAD], 1u);
  // Purge READY and RUNNING: running ones are named to be stopped.
  auto run = s.TakeRunnable(kT0 + 11, 2);
  ASSERT_EQ(run.size(), 2u);
  std::vector<std::pair<uint64_t, int32_t>> stop;
  uint32_t states = 1u << v1::JOB_STATE_READY | 1u << v1::JOB_STATE_RUNNING;
  EXPECT_EQ(s.PurgeStep("q", states, 4, kT0 + 12, &stop), 4u);
  EXPECT_EQ(s.PurgeStep("q", states, 4, kT0 + 12, &stop), 1u);
  EXPECT_EQ(stop.size(), 2u);
  EXPECT_EQ(s.FindQueue("q")->unfinished(), 0);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_CANCELLED], 0u);
  EXPECT_EQ(s.live(), 0u);
  EXPECT_EQ(s.jobs().size(), 1u);  // The other queue's.
}

TEST(SchedulerLifecycleTest, LimitsChangeOnlyWhatIsSet) {
  Scheduler s(Options(), nullptr);
  s.SetQueueLimits("q", {.max_concurrency = 3});
  s.SetQueueLimits("q", {.max_queued = 10});
  s.SetQueueLimits("q", {.rate = 5.0});
  const Queue& q = *s.FindQueue("q");
  EXPECT_EQ(q.max_concurrency, 3);
  EXPECT_EQ(q.max_queued, 10);
  EXPECT_EQ(q.starts.rate, 5.0);
  s.SetQueueLimits("q", {.max_concurrency = 0, .burst = 2});
  EXPECT_EQ(q.max_concurrency, 0);
  EXPECT_EQ(q.max_queued, 10);
  EXPECT_EQ(q.starts.rate, 5.0);
  EXPECT_EQ(q.starts.burst, 2);
}

TEST(SchedulerLifecycleTest, ARateLimitedQueueStartsAtItsRateAndSaysWhenNext) {
  Scheduler s(Options(), nullptr);
  s.SetQueueLimits("slow", {.rate = 10.0, .burst = 2});
  for (int i = 0; i < 200; ++i) s.Submit(Spec("slow"), kT0);
  for (int i = 0; i < 100; ++i) s.Submit(Spec("fast"), kT0);
  auto first = s.TakeRunnable(kT0, 1000);
  size_t slow = 0;
  for (const auto& a : first) slow += s.Find(a.seq)->queue() == "slow";
  EXPECT_EQ(slow, 2u);                   // The burst.
  EXPECT_EQ(first.size() - slow, 100u);  // The other queue is not held back.
  // The next token comes 100 ms later, and the core is told so.
  EXPECT_EQ(s.RateWake(kT0), kT0 + 100 * kMillisecond);
  EXPECT_TRUE(s.TakeRunnable(kT0 + 99 * kMillisecond, 1000).empty());
  EXPECT_EQ(s.TakeRunnable(kT0 + 100 * kMillisecond, 1000).size(), 1u);
  // Over ten seconds: 10 a second, whatever the number of calls.
  size_t started = 0;
  for (TimeUs t = kT0 + 100 * kMillisecond; t <= kT0 + 10'100 * kMillisecond;
       t += 7 * kMillisecond) {
    started += s.TakeRunnable(t, 1000).size();
  }
  EXPECT_GE(started, 99u);
  EXPECT_LE(started, 101u);
}

// While no start is tried (every run slot taken), nothing refills the
// bucket; the wake-up is still never a time already past, or the core
// would re-arm it at once, turn after turn.
TEST(SchedulerLifecycleTest, TheRateWakeUpIsNeverInThePast) {
  Scheduler s(Options(), nullptr);
  s.SetQueueLimits("slow", {.rate = 10.0, .burst = 1});
  for (int i = 0; i < 5; ++i) s.Submit(Spec("slow"), kT0);
  ASSERT_EQ(s.TakeRunnable(kT0, 1000).size(), 1u);
  EXPECT_EQ(s.RateWake(kT0 + 30 * kMillisecond), kT0 + 100 * kMillisecond);
  // The token came at +100 ms and no start took it: nothing waits for
  // the rate (the queue waits for a slot), so no wake-up at all.
  EXPECT_EQ(s.RateWake(kT0 + 100 * kMillisecond), 0);
  EXPECT_EQ(s.RateWake(kT0 + 5 * kSecond), 0);
  // A start at +5 s takes that token; the next one is 100 ms on.
  ASSERT_EQ(s.TakeRunnable(kT0 + 5 * kSecond, 1000).size(), 1u);
  EXPECT_EQ(s.RateWake(kT0 + 5 * kSecond),
            kT0 + 5 * kSecond + 100 * kMillisecond);
  // Even a clock that went back is told a time after it.
  EXPECT_GT(s.RateWake(kT0), kT0);
}

TEST(SchedulerLifecycleTest, RateLimitsRemoteStartsToo) {
  SchedulerOptions o = Options();
  o.is_local = [](const std::string& kind) { return kind == "noop"; };
  Scheduler s(o, nullptr);
  s.SetQueueLimits("q", {.rate = 1.0, .burst = 1});
  v1::JobSpec spec = Spec();
  spec.set_kind("resize");
  for (int i = 0; i < 5; ++i) s.Submit(spec, kT0);
  EXPECT_EQ(s.TakeRemote({"resize"}, {}, "w", kT0, 10, kSecond).size(), 1u);
  EXPECT_EQ(s.TakeRemote({"resize"}, {}, "w", kT0 + 1, 10, kSecond).size(), 0u);
  EXPECT_EQ(s.RateWake(kT0 + 1), kT0 + kSecond);
  EXPECT_EQ(
      s.TakeRemote({"resize"}, {}, "w", kT0 + kSecond, 10, kSecond).size(), 1u);
}

TEST(SchedulerLifecycleTest, ReplayRebuildsRetriesDeletesPurgesAndLimits) {
  Log log;
  Scheduler s(Options(), nullptr, &log);
  s.SetQueueLimits("q", {.max_concurrency = 4, .rate = 50.0, .burst = 5});
  std::vector<uint64_t> dead;
  for (int i = 0; i < 6; ++i) dead.push_back(Dead(s, kT0 + i));
  ASSERT_TRUE(s.RetryJob(dead[0], kT0 + 10).ok());
  ASSERT_TRUE(s.DeleteJob(dead[1]).ok());
  s.RetryDeadStep("q", 2, kT0 + 11);
  std::vector<std::pair<uint64_t, int32_t>> stop;
  s.PurgeStep("q", 1u << v1::JOB_STATE_DEAD, 1, kT0 + 12, &stop);
  s.Tick(kT0 + 13);

  Scheduler replica(Options(), nullptr);
  for (const auto& t : log.records) replica.Apply(t);
  ASSERT_EQ(replica.jobs().size(), s.jobs().size());
  for (const Job& job : s.jobs()) {
    const Job* r = replica.Find(job.seq);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->state, job.state);
    EXPECT_EQ(r->attempt, job.attempt);
  }
  EXPECT_EQ(replica.FindQueue("q")->by_state, s.FindQueue("q")->by_state);
  EXPECT_EQ(replica.FindQueue("q")->max_concurrency, 4);
  EXPECT_EQ(replica.FindQueue("q")->starts.rate, 50.0);
  EXPECT_EQ(replica.FindQueue("q")->starts.burst, 5);
  EXPECT_EQ(replica.live(), s.live());
  EXPECT_EQ(replica.dead(), s.dead());
}

}  // namespace
}  // namespace jobq::core
