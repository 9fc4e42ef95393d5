#include "core/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace jobq::core {
namespace {

using ::testing::ElementsAre;

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct Recorder : JobObserver, TransitionLog {
  void OnJobEvent(const Job& job, v1::JobState state) override {
    events.emplace_back(job.seq, state);
  }
  void Append(const wal::v1::Transition& t) override { log.push_back(t); }
  std::vector<v1::JobState> StatesOf(uint64_t seq) const {
    std::vector<v1::JobState> out;
    for (auto& [s, st] : events) {
      if (s == seq) out.push_back(st);
    }
    return out;
  }
  std::vector<std::pair<uint64_t, v1::JobState>> events;
  std::vector<wal::v1::Transition> log;
};

v1::JobSpec Spec(std::string queue = "q", int32_t priority = 0) {
  v1::JobSpec s;
  s.set_queue(std::move(queue));
  s.set_kind("noop");
  s.set_priority(priority);
  return s;
}

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerOptions Options() {
    SchedulerOptions o;
    o.random = [] { return 0.0; };  // No jitter: exact backoff.
    return o;
  }
  Recorder rec_;
  Scheduler s_{Options(), &rec_, &rec_};
};

TEST_F(SchedulerTest, HigherPriorityRunsFirstAndTiesRunInSubmissionOrder) {
  uint64_t low = s_.Submit(Spec("q", 1), kT0).seq;
  uint64_t high1 = s_.Submit(Spec("q", 9), kT0).seq;
  uint64_t mid = s_.Submit(Spec("q", 5), kT0).seq;
  uint64_t high2 = s_.Submit(Spec("q", 9), kT0).seq;
  auto run = s_.TakeRunnable(kT0, 100);
  std::vector<uint64_t> order;
  for (auto& a : run) order.push_back(a.seq);
  EXPECT_THAT(order, ElementsAre(high1, high2, mid, low));
}

TEST_F(SchedulerTest, IdsIncreaseWithSubmissionEvenWithinOneMillisecond) {
  uint64_t a = s_.Submit(Spec(), kT0).seq;
  uint64_t b = s_.Submit(Spec(), kT0).seq;
  uint64_t c = s_.Submit(Spec(), kT0 + 5 * kMillisecond).seq;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(FormatJobId(a), FormatJobId(b));
}

TEST_F(SchedulerTest, AJobIdIsSixteenLowercaseHexDigitsAndParsesBack) {
  EXPECT_EQ(FormatJobId(0), "0000000000000000");
  EXPECT_EQ(FormatJobId(0x1a), "000000000000001a");
  EXPECT_EQ(FormatJobId(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(FormatJobId(~0ULL), "ffffffffffffffff");
  for (uint64_t seq : {0ULL, 1ULL, 0xfedcba9876543210ULL, ~0ULL}) {
    uint64_t back = 1;
    ASSERT_TRUE(ParseJobId(FormatJobId(seq), &back));
    EXPECT_EQ(back, seq);
  }
}

TEST_F(SchedulerTest, DelayedJobWaitsScheduledUntilItsTime) {
  v1::JobSpec spec = Spec();
  spec.mutable_delay()->set_seconds(10);
  uint64_t seq = s_.Submit(spec, kT0).seq;
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(s_.Tick(kT0), kT0 + 10 * kSecond);
  EXPECT_TRUE(s_.TakeRunnable(kT0 + 9 * kSecond, 10).empty());
  s_.Tick(kT0 + 10 * kSecond);
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_READY);
  ASSERT_EQ(s_.TakeRunnable(kT0 + 10 * kSecond, 10).size(), 1u);
  EXPECT_THAT(rec_.StatesOf(seq),
              ElementsAre(v1::JOB_STATE_SCHEDULED, v1::JOB_STATE_READY,
                          v1::JOB_STATE_RUNNING));
}

TEST_F(SchedulerTest, PromotedDelayedJobsJoinByPriority) {
  v1::JobSpec delayed = Spec("q", 7);
  delayed.mutable_delay()->set_seconds(1);
  uint64_t d = s_.Submit(delayed, kT0).seq;
  uint64_t now_low = s_.Submit(Spec("q", 1), kT0).seq;
  s_.Tick(kT0 + kSecond);
  auto run = s_.TakeRunnable(kT0 + kSecond, 10);
  ASSERT_EQ(run.size(), 2u);
  EXPECT_EQ(run[0].seq, d);
  EXPECT_EQ(run[1].seq, now_low);
}

TEST_F(SchedulerTest, RunAtInThePastIsReadyAtOnce) {
  v1::JobSpec spec = Spec();
  spec.mutable_run_at()->set_seconds(1000);
  uint64_t seq = s_.Submit(spec, kT0).seq;
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_READY);
}

TEST_F(SchedulerTest, SuccessfulRunEndsSucceededWithTimings) {
  uint64_t seq = s_.Submit(Spec(), kT0).seq;
  auto run = s_.TakeRunnable(kT0 + 2 * kMillisecond, 10);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].attempt, 1);
  EXPECT_TRUE(s_.Finish({seq, 1, true, "out", "", 0}, kT0 + 7 * kMillisecond));
  const Job* job = s_.Find(seq);
  EXPECT_EQ(job->state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->result(), "out");
  v1::Job proto;
  ToProto(*job, &proto);
  EXPECT_EQ(proto.timings().queue_wait().nanos(), 2'000'000);
  EXPECT_EQ(proto.timings().run_time().nanos(), 5'000'000);
  EXPECT_EQ(proto.timings().total().nanos(), 7'000'000);
  EXPECT_EQ(s_.FindQueue("q")->run_time.Count(), 1u);
}

TEST_F(SchedulerTest, FailedRunIsRetriedWithBackoffThenDead) {
  v1::JobSpec spec = Spec();
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  spec.mutable_retry()->set_multiplier(2);
  uint64_t seq = s_.Submit(spec, kT0).seq;

  TimeUs now = kT0;
  ASSERT_EQ(s_.TakeRunnable(now, 10).size(), 1u);
  ASSERT_TRUE(s_.Finish({seq, 1, false, "", "boom", 1}, now));
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(s_.Tick(now), now + 1 * kSecond);  // First backoff: 1s.
  EXPECT_TRUE(s_.TakeRunnable(now + kSecond - 1, 10).empty());

  now += kSecond;
  s_.Tick(now);
  auto run = s_.TakeRunnable(now, 10);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].attempt, 2);
  ASSERT_TRUE(s_.Finish({seq, 2, false, "", "boom", 1}, now));
  EXPECT_EQ(s_.Tick(now), now + 2 * kSecond);  // Doubled.

  now += 2 * kSecond;
  s_.Tick(now);
  ASSERT_EQ(s_.TakeRunnable(now, 10).size(), 1u);
  ASSERT_TRUE(s_.Finish({seq, 3, false, "", "boom", 1}, now));
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(s_.Find(seq)->attempt, 3);
  EXPECT_THAT(rec_.StatesOf(seq),
              ElementsAre(v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
                          v1::JOB_STATE_FAILED, v1::JOB_STATE_SCHEDULED,
                          v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
                          v1::JOB_STATE_FAILED, v1::JOB_STATE_SCHEDULED,
                          v1::JOB_STATE_READY, v1::JOB_STATE_RUNNING,
                          v1::JOB_STATE_FAILED, v1::JOB_STATE_DEAD));
}

TEST_F(SchedulerTest, EveryStartedRunCountsAsAnAttemptHoweverItEnded) {
  v1::JobSpec spec = Spec();
  spec.mutable_retry()->set_max_attempts(4);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  uint64_t seq = s_.Submit(spec, kT0).seq;
  auto start = [&](TimeUs now) {
    s_.Tick(now);
    auto run = s_.TakeRunnable(now, 10);
    EXPECT_EQ(run.size(), 1u);
    return run.empty() ? 0 : run[0].attempt;
  };
  // 1: lost (its worker went away): READY at once.
  EXPECT_EQ(start(kT0), 1);
  RunResult lost{seq, 1, false, "", "worker gone", 0, Retry::kNow};
  ASSERT_TRUE(s_.Finish(lost, kT0));
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_READY);
  // 2: jobqd died while it ran.
  EXPECT_EQ(start(kT0), 2);
  EXPECT_EQ(s_.RequeueRunning(kT0), 1u);
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_READY);
  // 3: failed: retried after its backoff.
  EXPECT_EQ(start(kT0), 3);
  ASSERT_TRUE(s_.Finish({seq, 3, false, "", "boom", 1}, kT0));
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_SCHEDULED);
  // 4, the last of max_attempts: jobqd dies again, and that was the last.
  EXPECT_EQ(start(kT0 + 10 * kSecond), 4);
  EXPECT_EQ(s_.RequeueRunning(kT0 + 10 * kSecond), 1u);
  const Job& job = *s_.Find(seq);
  EXPECT_EQ(job.state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(job.attempt, 4);
  EXPECT_EQ(job.error(), "interrupted: jobqd restarted while it ran");
  EXPECT_EQ(s_.FindQueue("q")->started_total, 4u);
  // The log tells the same story.
  Scheduler replica(Options(), nullptr);
  for (const auto& t : rec_.log) replica.Apply(t);
  EXPECT_EQ(replica.Find(seq)->state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(replica.Find(seq)->attempt, 4);
}

TEST_F(SchedulerTest, ReplayKeepsTheRunningRetryOfAJobAndItsAttempt) {
  v1::JobSpec spec = Spec();
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  uint64_t seq = s_.Submit(spec, kT0).seq;
  ASSERT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
  ASSERT_TRUE(s_.Finish({seq, 1, false, "", "boom", 1}, kT0));
  s_.Tick(kT0 + kSecond);  // Promoted: not a transition.
  ASSERT_EQ(s_.TakeRunnable(kT0 + kSecond, 10).size(), 1u);
  // jobqd dies while the retry runs: the log alone must show it running.
  Scheduler replica(Options(), nullptr);
  for (const auto& t : rec_.log) replica.Apply(t);
  EXPECT_EQ(replica.Find(seq)->state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(replica.Find(seq)->attempt, 2);
  EXPECT_EQ(replica.RequeueRunning(kT0 + 2 * kSecond), 1u);
  auto next = replica.TakeRunnable(kT0 + 2 * kSecond, 10);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].attempt, 3);
}

TEST_F(SchedulerTest, LostRunsGetAtLeastThreeAttemptsAndThenEndDead) {
  // No retries: a lost run still runs again, up to three runs in all,
  // whichever way each was lost.
  uint64_t seq = s_.Submit(Spec(), kT0).seq;
  ASSERT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
  ASSERT_TRUE(
      s_.Finish({seq, 1, false, "", "lease expired", 0, Retry::kNow}, kT0));
  ASSERT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
  s_.RequeueRunning(kT0);
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_READY);
  ASSERT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
  s_.RequeueRunning(kT0);
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_DEAD);
  EXPECT_EQ(s_.Find(seq)->attempt, kLostRunAttempts);
  // A failure, though, is not retried without retries.
  uint64_t failed = s_.Submit(Spec(), kT0).seq;
  ASSERT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
  ASSERT_TRUE(s_.Finish({failed, 1, false, "", "boom", 1}, kT0));
  EXPECT_EQ(s_.Find(failed)->state, v1::JOB_STATE_DEAD);
}

TEST_F(SchedulerTest, LateOrDuplicateResultsAreRefused) {
  uint64_t seq = s_.Submit(Spec(), kT0).seq;
  s_.TakeRunnable(kT0, 10);
  EXPECT_FALSE(s_.Finish({seq, 2, true, "", "", 0}, kT0));  // Wrong attempt.
  EXPECT_TRUE(s_.Finish({seq, 1, true, "", "", 0}, kT0));
  EXPECT_FALSE(s_.Finish({seq, 1, false, "", "late", 0}, kT0));
  EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_FALSE(s_.Finish({12345, 1, true, "", "", 0}, kT0));
}

TEST_F(SchedulerTest, CancelWorksInEveryNonTerminalState) {
  v1::JobSpec delayed = Spec();
  delayed.mutable_delay()->set_seconds(5);
  uint64_t scheduled = s_.Submit(delayed, kT0).seq;
  uint64_t running = s_.Submit(Spec("q", 10), kT0).seq;
  ASSERT_EQ(s_.TakeRunnable(kT0, 1).size(), 1u);
  uint64_t ready = s_.Submit(Spec(), kT0).seq;

  auto c1 = s_.Cancel(scheduled, kT0);
  ASSERT_TRUE(c1.ok());
  EXPECT_FALSE(c1->running_attempt.has_value());
  auto c2 = s_.Cancel(running, kT0);
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->running_attempt, 1);
  auto c3 = s_.Cancel(ready, kT0);
  ASSERT_TRUE(c3.ok());
  for (uint64_t seq : {scheduled, running, ready}) {
    EXPECT_EQ(s_.Find(seq)->state, v1::JOB_STATE_CANCELLED);
  }
  // Nothing is left to run or promote, and the running job's result is
  // refused.
  EXPECT_TRUE(s_.TakeRunnable(kT0 + 10 * kSecond, 10).empty());
  EXPECT_FALSE(s_.Finish({running, 1, true, "", "", 0}, kT0));
  EXPECT_EQ(s_.running(), 0u);
  EXPECT_EQ(s_.Cancel(ready, kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s_.Cancel(999, kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, IdempotencyKeyReturnsTheFirstJob) {
  v1::JobSpec spec = Spec();
  spec.set_idempotency_key("order-42");
  SubmitOutcome first = s_.Submit(spec, kT0);
  SubmitOutcome second = s_.Submit(spec, kT0 + kSecond);
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(first.seq, second.seq);
  EXPECT_EQ(s_.jobs().size(), 1u);
}

TEST_F(SchedulerTest, PausedQueueStartsNothingUntilResumed) {
  s_.PauseQueue("q", true);
  s_.Submit(Spec(), kT0);
  EXPECT_TRUE(s_.TakeRunnable(kT0, 10).empty());
  s_.PauseQueue("q", false);
  EXPECT_EQ(s_.TakeRunnable(kT0, 10).size(), 1u);
}

TEST_F(SchedulerTest, MaxConcurrencyLimitsRunningJobsOfAQueue) {
  s_.SetMaxConcurrency("q", 2);
  for (int i = 0; i < 5; ++i) s_.Submit(Spec(), kT0);
  s_.Submit(Spec("other"), kT0);
  auto run = s_.TakeRunnable(kT0, 100);
  EXPECT_EQ(run.size(), 3u);  // Two of q, one of other.
  EXPECT_EQ(s_.FindQueue("q")->running(), 2u);
  EXPECT_TRUE(s_.TakeRunnable(kT0, 100).empty());
  auto of_q = std::find_if(run.begin(), run.end(), [&](const Assignment& a) {
    return s_.Find(a.seq)->queue() == "q";
  });
  ASSERT_TRUE(s_.Finish({of_q->seq, 1, true, "", "", 0}, kT0));
  EXPECT_EQ(s_.TakeRunnable(kT0, 100).size(), 1u);
}

TEST_F(SchedulerTest, TakeRunnableTakesTurnsBetweenQueues) {
  for (int i = 0; i < 3; ++i) s_.Submit(Spec("a"), kT0);
  for (int i = 0; i < 3; ++i) s_.Submit(Spec("b"), kT0);
  auto run = s_.TakeRunnable(kT0, 2);
  ASSERT_EQ(run.size(), 2u);
  EXPECT_NE(s_.Find(run[0].seq)->queue(), s_.Find(run[1].seq)->queue());
}

TEST_F(SchedulerTest, FinishedJobsAreForgottenAfterRetention) {
  SchedulerOptions o = Options();
  o.retention = 60 * kSecond;
  o.idempotency_window = 60 * kSecond;
  Recorder rec;
  Scheduler s(o, &rec);
  v1::JobSpec spec = Spec();
  spec.set_idempotency_key("k");
  uint64_t seq = s.Submit(spec, kT0).seq;
  s.TakeRunnable(kT0, 1);
  s.Finish({seq, 1, true, "", "", 0}, kT0);
  EXPECT_EQ(s.Tick(kT0 + 59 * kSecond), kT0 + 60 * kSecond);
  EXPECT_NE(s.Find(seq), nullptr);
  s.Tick(kT0 + 60 * kSecond);
  EXPECT_EQ(s.Find(seq), nullptr);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_SUCCEEDED], 0u);
  // The key is free again, its window over.
  EXPECT_FALSE(s.Submit(spec, kT0 + 61 * kSecond).duplicate);
}

TEST_F(SchedulerTest, AtMostMaxFinishedJobsAreKept) {
  SchedulerOptions o = Options();
  o.max_finished = 3;
  Scheduler s(o, nullptr);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    uint64_t seq = s.Submit(Spec(), kT0 + i).seq;
    seqs.push_back(seq);
    s.TakeRunnable(kT0 + i, 1);
    s.Finish({seq, 1, true, "", "", 0}, kT0 + i);
  }
  s.Tick(kT0 + 10);
  EXPECT_EQ(s.jobs().size(), 3u);
  EXPECT_EQ(s.Find(seqs[0]), nullptr);
  EXPECT_EQ(s.Find(seqs[1]), nullptr);
  EXPECT_NE(s.Find(seqs[4]), nullptr);
}

TEST_F(SchedulerTest, ReplayingTheTransitionsRebuildsTheSameState) {
  std::mt19937 rng(7);
  TimeUs now = kT0;
  s_.SetMaxConcurrency("b", 1);
  for (int i = 0; i < 200; ++i) {
    now += static_cast<TimeUs>(rng() % 1000);
    v1::JobSpec spec =
        Spec(rng() % 2 ? "a" : "b", static_cast<int32_t>(rng() % 5));
    if (rng() % 4 == 0) spec.mutable_delay()->set_nanos(500'000'000);
    spec.mutable_retry()->set_max_attempts(2);
    s_.Submit(spec, now);
    s_.Tick(now);
    for (auto& a : s_.TakeRunnable(now, rng() % 3)) {
      s_.Finish({a.seq, a.attempt, rng() % 3 != 0, "r", "e", 0}, now);
    }
    if (rng() % 10 == 0 && !s_.jobs().empty()) {
      (void)s_.Cancel(s_.jobs().rbegin()->seq, now);
    }
  }
  Scheduler replica(Options(), nullptr);
  for (const auto& t : rec_.log) replica.Apply(t);
  replica.Tick(now);
  s_.Tick(now);
  ASSERT_EQ(replica.jobs().size(), s_.jobs().size());
  for (const Job& job : s_.jobs()) {
    const Job* r = replica.Find(job.seq);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(v1::JobState(r->state), v1::JobState(job.state)) << job.seq;
    EXPECT_EQ(r->attempt, job.attempt);
    EXPECT_EQ(r->ready_at, job.ready_at);
    EXPECT_EQ(r->finished_at, job.finished_at);
  }
  for (const auto& [name, q] : s_.queues()) {
    EXPECT_EQ(replica.FindQueue(name)->by_state, q.by_state) << name;
    EXPECT_EQ(replica.FindQueue(name)->max_concurrency, q.max_concurrency);
  }
}

}  // namespace
}  // namespace jobq::core

namespace jobq::core {
namespace {

TEST(JobTest, PayloadsOfEverySizeComeBackIntactAndSpecsRoundTrip) {
  NameTable names;
  for (size_t n : {size_t{0}, size_t{1}, size_t{64}, size_t{65534},
                   size_t{65535}, size_t{70000}}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7);
    v1::JobSpec spec;
    spec.set_queue("q");
    spec.set_kind("k");
    spec.set_payload(payload);
    spec.set_priority(-3);
    Job job(1);
    job.SetSpec(spec, names);
    EXPECT_EQ(job.payload(), payload) << n;
    v1::JobSpec back;
    job.SpecToProto(&back);
    EXPECT_EQ(back.SerializeAsString(), spec.SerializeAsString()) << n;
  }
  v1::JobSpec full;
  full.set_queue("q");
  full.set_kind("k");
  full.set_idempotency_key("key");
  (*full.mutable_labels())["team"] = "web";
  full.mutable_retry()->set_max_attempts(5);
  full.mutable_timeout()->set_seconds(9);
  Job job(2);
  job.SetSpec(full, names);
  EXPECT_EQ(job.queue(), "q");
  EXPECT_EQ(&job.queue(), names.Intern("q"));  // Interned: one copy.
  EXPECT_EQ(job.idempotency_key(), "key");
  EXPECT_EQ(job.labels().at("team"), "web");
  EXPECT_EQ(job.retry().max_attempts(), 5);
  EXPECT_EQ(job.timeout().seconds(), 9);
  v1::JobSpec back;
  job.SpecToProto(&back);
  EXPECT_EQ(back.SerializeAsString(), full.SerializeAsString());
  job.SetOutcome("out", "", 0);
  EXPECT_EQ(job.result(), "out");
  job.ClearOutcome();
  EXPECT_EQ(job.result(), "");
  EXPECT_EQ(job.idempotency_key(), "key");  // The spec stays.
  EXPECT_EQ(sizeof(Job), 80u);
}

}  // namespace
}  // namespace jobq::core

namespace jobq::core {
namespace {

TEST(SchedulerLimitTest, AFullQueueRefusesSubmitsUntilAJobFinishes) {
  SchedulerOptions o;
  o.max_queued = 3;  // The server-wide default.
  Scheduler s(o, nullptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(s.Submit(Spec("q"), kT0).refused()) << i;
  }
  SubmitOutcome full = s.Submit(Spec("q"), kT0);
  EXPECT_TRUE(full.refused());
  EXPECT_EQ(full.full_at, 3);
  EXPECT_EQ(s.FindQueue("q")->refused_total, 1u);
  s.PauseQueue("other", true);
  EXPECT_FALSE(s.Submit(Spec("other"), kT0).refused());  // Per queue.
  // A queue's own limit wins over the default.
  s.SetMaxQueued("q", 4);
  EXPECT_FALSE(s.Submit(Spec("q"), kT0).refused());
  EXPECT_TRUE(s.Submit(Spec("q"), kT0).refused());
  // Running jobs still count; a finished one makes room.
  auto run = s.TakeRunnable(kT0, 1);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_TRUE(s.Submit(Spec("q"), kT0).refused());
  ASSERT_TRUE(s.Finish({run[0].seq, run[0].attempt, true, "", "", 0}, kT0));
  EXPECT_FALSE(s.Submit(Spec("q"), kT0).refused());
}

TEST(SchedulerLimitTest, PreparedEnqueuesCountUntilStoredOrAbandoned) {
  Scheduler s(SchedulerOptions{}, nullptr);
  s.SetMaxQueued("q", 2);
  wal::v1::Transition a, b, c;
  EXPECT_FALSE(s.PrepareEnqueue(Spec("q"), kT0, &a).refused());
  EXPECT_FALSE(s.PrepareEnqueue(Spec("q"), kT0, &b).refused());
  EXPECT_TRUE(s.PrepareEnqueue(Spec("q"), kT0, &c).refused());
  s.Abandon(b);  // Its record could not be stored.
  EXPECT_FALSE(s.PrepareEnqueue(Spec("q"), kT0, &c).refused());
  s.ApplyPrepared(a);
  s.ApplyPrepared(c);
  EXPECT_EQ(s.FindQueue("q")->unfinished(), 2);
  EXPECT_TRUE(s.PrepareEnqueue(Spec("q"), kT0, &b).refused());
}

}  // namespace
}  // namespace jobq::core
