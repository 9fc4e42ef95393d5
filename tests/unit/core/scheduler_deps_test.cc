#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct Log : TransitionLog {
  void Append(const wal::v1::Transition& t) override { records.push_back(t); }
  std::vector<wal::v1::Transition> records;
};

struct Events : JobObserver {
  void OnJobEvent(const Job& job, v1::JobState state) override {
    seen.emplace_back(job.seq, state);
  }
  std::vector<std::pair<uint64_t, v1::JobState>> seen;
};

SchedulerOptions Options() {
  SchedulerOptions o;
  o.random = [] { return 0.0; };
  return o;
}

v1::JobSpec Spec(std::vector<uint64_t> parents = {}, std::string queue = "q") {
  v1::JobSpec s;
  s.set_queue(std::move(queue));
  s.set_kind("noop");
  for (uint64_t p : parents) s.add_depends_on(FormatJobId(p));
  return s;
}

// Starts every READY job and returns their assignments by id.
std::map<uint64_t, Assignment> RunAll(Scheduler& s, TimeUs now) {
  std::map<uint64_t, Assignment> out;
  for (auto& a : s.TakeRunnable(now, 100'000)) out[a.seq] = std::move(a);
  return out;
}

void Succeed(Scheduler& s, const Assignment& a, std::string result,
             TimeUs now) {
  ASSERT_TRUE(
      s.Finish({a.seq, a.attempt, true, std::move(result), "", 0}, now));
}

void FailForGood(Scheduler& s, const Assignment& a, TimeUs now) {
  RunResult r{a.seq, a.attempt, false, "", "boom", 1};
  r.retry = Retry::kNever;
  ASSERT_TRUE(s.Finish(r, now));
}

std::vector<std::string> WaitingFor(const Scheduler& s, uint64_t seq) {
  v1::Job j;
  s.ToProto(*s.Find(seq), &j);
  return {j.waiting_for().begin(), j.waiting_for().end()};
}

TEST(SchedulerDepsTest, AJobWaitsForEveryParentThenGetsTheirResults) {
  Events events;
  Scheduler s(Options(), &events);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  uint64_t b = s.Submit(Spec(), kT0).seq;
  // Named out of order: the job keeps them in id order.
  uint64_t c = s.Submit(Spec({b, a}), kT0).seq;
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_WAITING);
  EXPECT_EQ(s.FindQueue("q")->by_state[v1::JOB_STATE_WAITING], 1u);
  EXPECT_EQ(events.seen.back(), std::make_pair(c, v1::JOB_STATE_WAITING));

  auto run = RunAll(s, kT0 + 1);
  ASSERT_EQ(run.size(), 2u);  // The parents only.
  Succeed(s, run[a], "from a", kT0 + 2);
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_WAITING);
  EXPECT_THAT(WaitingFor(s, c), ElementsAre(FormatJobId(b)));
  Succeed(s, run[b], "from b", kT0 + 3);
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_READY);
  EXPECT_EQ(s.Find(c)->ready_at, kT0 + 3);
  EXPECT_TRUE(WaitingFor(s, c).empty());

  auto child = RunAll(s, kT0 + 4);
  ASSERT_EQ(child.count(c), 1u);
  ASSERT_NE(child[c].parents, nullptr);
  const auto& parents = *child[c].parents;
  ASSERT_EQ(parents.size(), 2u);
  EXPECT_EQ(parents[0].seq, a);
  EXPECT_EQ(*parents[0].result, "from a");
  EXPECT_EQ(parents[1].seq, b);
  EXPECT_EQ(*parents[1].result, "from b");
  // Shared with the parent, not copied.
  EXPECT_EQ(parents[0].result.get(), s.Find(a)->shared_result().get());
}

TEST(SchedulerDepsTest, AParentThatSucceededBeforeTheSubmitIsReadyAtOnce) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  Succeed(s, RunAll(s, kT0)[a], "done", kT0 + 1);
  uint64_t c = s.Submit(Spec({a}), kT0 + 5).seq;
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_READY);
  auto run = RunAll(s, kT0 + 6);
  ASSERT_NE(run[c].parents, nullptr);
  ASSERT_EQ(run[c].parents->size(), 1u);
  EXPECT_EQ(*(*run[c].parents)[0].result, "done");
}

TEST(SchedulerDepsTest, ADelayedChildWaitsForItsTimeToo) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  v1::JobSpec spec = Spec({a});
  spec.mutable_delay()->set_seconds(60);
  uint64_t c = s.Submit(spec, kT0).seq;
  Succeed(s, RunAll(s, kT0)[a], "", kT0 + kSecond);
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_SCHEDULED);
  s.Tick(kT0 + 60 * kSecond);
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_READY);
}

TEST(SchedulerDepsTest, AFailedParentCancelsItsDependentsAndTheirs) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  uint64_t other = s.Submit(Spec(), kT0).seq;
  uint64_t b = s.Submit(Spec({a, other}), kT0).seq;
  uint64_t c = s.Submit(Spec({b}, "elsewhere"), kT0).seq;
  auto run = RunAll(s, kT0);
  FailForGood(s, run[a], kT0 + 7);
  EXPECT_EQ(s.Find(b)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(s.Find(b)->error(), "parent job " + FormatJobId(a) + " ended DEAD");
  EXPECT_EQ(s.Find(b)->finished_at, kT0 + 7);
  // Across queues, down the chain.
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(s.Find(c)->error(),
            "parent job " + FormatJobId(b) + " ended CANCELLED");
  // The other parent runs on.
  EXPECT_EQ(s.Find(other)->state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(s.live(), 1u);
}

TEST(SchedulerDepsTest, CancellingAParentCancelsItsDependentsNotTheOtherWay) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  uint64_t b = s.Submit(Spec({a}), kT0).seq;
  uint64_t c = s.Submit(Spec({a}), kT0).seq;
  ASSERT_TRUE(s.Cancel(b, kT0 + 1).ok());
  EXPECT_EQ(s.Find(a)->state, v1::JOB_STATE_READY);
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_WAITING);
  ASSERT_TRUE(s.Cancel(a, kT0 + 2).ok());
  EXPECT_EQ(s.Find(c)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(s.Find(c)->error(), HasSubstr(FormatJobId(a)));
}

TEST(SchedulerDepsTest, ALongChainIsCancelledWithoutRecursion) {
  Scheduler s(Options(), nullptr);
  uint64_t first = s.Submit(Spec(), kT0).seq;
  uint64_t last = first;
  for (int i = 0; i < 200'000; ++i) last = s.Submit(Spec({last}), kT0).seq;
  ASSERT_TRUE(s.Cancel(first, kT0 + 1).ok());
  EXPECT_EQ(s.Find(last)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(s.live(), 0u);
}

TEST(SchedulerDepsTest, ParentsThatCannotSucceedAreRefused) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  FailForGood(s, RunAll(s, kT0)[a], kT0);
  wal::v1::Transition t;
  SubmitOutcome out = s.PrepareEnqueue(Spec({a}), kT0, &t);
  EXPECT_TRUE(out.refused());
  EXPECT_EQ(out.error.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(out.error.message(), HasSubstr("depends_on[0]"));
  EXPECT_THAT(out.error.message(), HasSubstr("ended DEAD"));
  out = s.PrepareEnqueue(Spec({a + 12345}), kT0, &t);
  EXPECT_EQ(out.error.code(), absl::StatusCode::kNotFound);
  // Nothing was counted against the queue.
  EXPECT_EQ(s.FindQueue("q")->pending, 0);
}

TEST(SchedulerDepsTest, ABatchMayNameJobsPreparedBeforeIt) {
  Scheduler s(Options(), nullptr);
  wal::v1::Transition tp, tc;
  SubmitOutcome p = s.PrepareEnqueue(Spec(), kT0, &tp);
  // Not yet applied: only the batch vouches for it.
  EXPECT_EQ(s.PrepareEnqueue(Spec({p.seq}), kT0, &tc).error.code(),
            absl::StatusCode::kNotFound);
  std::vector<uint64_t> batch = {p.seq};
  SubmitOutcome c = s.PrepareEnqueue(Spec({p.seq}), kT0, &tc, batch);
  ASSERT_FALSE(c.refused());
  s.ApplyPrepared(tp);
  s.ApplyPrepared(tc);
  EXPECT_EQ(s.Find(c.seq)->state, v1::JOB_STATE_WAITING);
}

TEST(SchedulerDepsTest, AParentIsKeptUntilTheJobNamingItIsApplied) {
  SchedulerOptions o = Options();
  o.max_finished = 0;  // Finished jobs go at the next tick.
  Scheduler s(o, nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  Succeed(s, RunAll(s, kT0)[a], "kept", kT0);
  wal::v1::Transition t;
  SubmitOutcome c = s.PrepareEnqueue(Spec({a}), kT0, &t);
  ASSERT_FALSE(c.refused());
  s.Tick(kT0 + 1);
  EXPECT_NE(s.Find(a), nullptr);
  EXPECT_EQ(s.DeleteJob(a).code(), absl::StatusCode::kFailedPrecondition);
  s.ApplyPrepared(t);
  EXPECT_EQ(s.Find(c.seq)->state, v1::JOB_STATE_READY);
  s.Tick(kT0 + 2);
  EXPECT_EQ(s.Find(a), nullptr);
  // The result lives on in the job that needs it.
  auto run = RunAll(s, kT0 + 3);
  ASSERT_NE(run[c.seq].parents, nullptr);
  EXPECT_EQ(*(*run[c.seq].parents)[0].result, "kept");
}

TEST(SchedulerDepsTest, RetryingAChildWaitsAgainForItsRetriedParent) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  uint64_t b = s.Submit(Spec({a}), kT0).seq;
  FailForGood(s, RunAll(s, kT0)[a], kT0);
  ASSERT_EQ(s.Find(b)->state, v1::JOB_STATE_CANCELLED);
  auto refused = s.RetryJob(b, kT0 + 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("retry that one first"));
  ASSERT_TRUE(s.RetryJob(a, kT0 + 2).ok());
  ASSERT_TRUE(s.RetryJob(b, kT0 + 3).ok());
  EXPECT_EQ(s.Find(b)->state, v1::JOB_STATE_WAITING);
  Succeed(s, RunAll(s, kT0 + 4)[a], "second time", kT0 + 5);
  EXPECT_EQ(s.Find(b)->state, v1::JOB_STATE_READY);
}

TEST(SchedulerDepsTest, WaitingJobsCountAgainstMaxQueued) {
  Scheduler s(Options(), nullptr);
  uint64_t a = s.Submit(Spec({}, "other"), kT0).seq;
  s.SetMaxQueued("q", 1);
  EXPECT_FALSE(s.Submit(Spec({a}), kT0).refused());
  EXPECT_TRUE(s.Submit(Spec({a}), kT0).refused());
}

// The state a scheduler holds, for comparing two of them.
std::vector<std::string> Dump(const Scheduler& s) {
  std::vector<std::string> out;
  for (const Job& j : s.jobs()) {
    wal::v1::JobSnapshot snap;
    s.Snapshot(j, &snap);
    out.push_back(snap.ShortDebugString());
  }
  return out;
}

TEST(SchedulerDepsTest, ReplayAndSnapshotsRebuildTheGraph) {
  Log log;
  Scheduler s(Options(), nullptr, &log);
  uint64_t a = s.Submit(Spec(), kT0).seq;
  uint64_t b = s.Submit(Spec(), kT0).seq;
  uint64_t c = s.Submit(Spec({a, b}), kT0).seq;
  uint64_t d = s.Submit(Spec({c}), kT0).seq;
  auto run = RunAll(s, kT0);
  Succeed(s, run[a], "ra", kT0 + 1);

  Scheduler replayed(Options(), nullptr);
  for (const auto& t : log.records) replayed.Apply(t);
  EXPECT_EQ(Dump(replayed), Dump(s));

  // Compaction writes every job as a snapshot; the graph survives it.
  Scheduler restored(Options(), nullptr);
  for (const Job& j : s.jobs()) {
    wal::v1::Transition t;
    s.Snapshot(j, t.mutable_snapshot());
    restored.Apply(t);
  }
  EXPECT_EQ(Dump(restored), Dump(s));
  for (Scheduler* x : {&s, &replayed, &restored}) {
    ASSERT_TRUE(x->Finish({b, 1, true, "rb", "", 0}, kT0 + 2));
    EXPECT_EQ(x->Find(c)->state, v1::JOB_STATE_READY);
    EXPECT_EQ(x->Find(d)->state, v1::JOB_STATE_WAITING);
    auto next = RunAll(*x, kT0 + 3);
    ASSERT_NE(next[c].parents, nullptr);
    ASSERT_EQ(next[c].parents->size(), 2u);
    EXPECT_EQ(*(*next[c].parents)[0].result, "ra");
    EXPECT_EQ(*(*next[c].parents)[1].result, "rb");
  }
}

}  // namespace
}  // namespace jobq::core
