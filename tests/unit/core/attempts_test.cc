// The runs of a job (core::AttemptHistory, kept by the Scheduler's Apply
// functions): where and how each ended, bounded, rebuilt by replay and by
// a snapshot, and nothing kept for a job whose one run ended it.
#include "core/attempts.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time_proto.h"
#include "core/scheduler.h"

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct Log : TransitionLog {
  void Append(const wal::v1::Transition& t) override { records.push_back(t); }
  std::vector<wal::v1::Transition> records;
};

v1::JobSpec Spec(const std::string& kind = "noop", int max_attempts = 1) {
  v1::JobSpec s;
  s.set_queue("q");
  s.set_kind(kind);
  if (max_attempts > 1) {
    s.mutable_retry()->set_max_attempts(max_attempts);
    s.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
    s.mutable_retry()->mutable_max_backoff()->set_seconds(1);
  }
  return s;
}

SchedulerOptions Options() {
  SchedulerOptions o;
  o.random = [] { return 0.0; };
  o.is_local = [](const std::string& kind) { return kind != "remote"; };
  return o;
}

std::vector<v1::Attempt> Attempts(const Scheduler& s, uint64_t seq) {
  v1::Job job;
  s.ToProto(*s.Find(seq), &job);
  return {job.attempts().begin(), job.attempts().end()};
}

std::string Bytes(const std::vector<v1::Attempt>& attempts) {
  std::string out;
  for (const auto& a : attempts) out += a.SerializeAsString() + "|";
  return out;
}

TEST(AttemptHistoryTest, AJobWhoseOneLocalRunEndedItHasOneAttemptAndNoEntry) {
  Scheduler s(Options(), nullptr);
  uint64_t ok = s.Submit(Spec(), kT0).seq;
  uint64_t failed = s.Submit(Spec(), kT0).seq;
  uint64_t cancelled = s.Submit(Spec(), kT0).seq;
  ASSERT_EQ(s.TakeRunnable(kT0 + 10, 10).size(), 3u);
  ASSERT_TRUE(s.Finish({ok, 1, true, "out", "", 0}, kT0 + 30));
  ASSERT_TRUE(s.Finish({failed, 1, false, "", "boom", 2}, kT0 + 40));
  ASSERT_TRUE(s.Cancel(cancelled, kT0 + 50).ok());
  EXPECT_EQ(s.jobs_with_history(), 0u);  // Nothing beyond the jobs' fields.

  auto a = Attempts(s, ok);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].number(), 1);
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  EXPECT_EQ(TimeFromProto(a[0].started_at()), kT0 + 10);
  EXPECT_EQ(TimeFromProto(a[0].finished_at()), kT0 + 30);
  EXPECT_EQ(a[0].worker(), "");
  a = Attempts(s, failed);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(a[0].error(), "boom");
  EXPECT_EQ(a[0].exit_code(), 2);
  a = Attempts(s, cancelled);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_CANCELLED);
  EXPECT_EQ(TimeFromProto(a[0].finished_at()), kT0 + 50);
  // A job that never ran has none; listings carry none.
  uint64_t waiting = s.Submit(Spec(), kT0).seq;
  EXPECT_TRUE(Attempts(s, waiting).empty());
  v1::Job listed;
  s.ToProto(*s.Find(ok), &listed, /*with_attempts=*/false);
  EXPECT_EQ(listed.attempts_size(), 0);
}

// Five runs, each ending another way: lost on a remote worker, lost with
// jobqd, failed, and the running one, which then succeeds.
class AttemptsOfOneJob : public ::testing::Test {
 protected:
  void SetUp() override {
    seq_ = s_.Submit(Spec("remote", 5), kT0).seq;
    // 1: on worker w1, whose lease runs out unheard: lost, READY at once.
    ASSERT_EQ(s_.TakeRemote({"remote"}, {}, "w1", kT0 + 1, 1, kSecond).size(),
              1u);
    auto lost =
        s_.ExpireLeases(kT0 + 1 + kSecond,
                        [](const std::string&, uint64_t) { return TimeUs{0}; });
    ASSERT_EQ(lost.size(), 1u);
    // 2: on w2 when jobqd stops: requeued at recovery.
    ASSERT_EQ(
        s_.TakeRemote({"remote"}, {}, "w2", kT0 + 3 * kSecond, 1, 10 * kSecond)
            .size(),
        1u);
    ASSERT_EQ(s_.RequeueRunning(kT0 + 4 * kSecond), 1u);
    // 3: on w2, fails with exit code 3: retried after its backoff.
    ASSERT_EQ(
        s_.TakeRemote({"remote"}, {}, "w2", kT0 + 5 * kSecond, 1, 10 * kSecond)
            .size(),
        1u);
    ASSERT_TRUE(s_.Finish({seq_, 3, false, "", "boom", 3}, kT0 + 6 * kSecond));
    s_.Tick(kT0 + 7 * kSecond);
    // 4: running on w1.
    ASSERT_EQ(
        s_.TakeRemote({"remote"}, {}, "w1", kT0 + 8 * kSecond, 1, 10 * kSecond)
            .size(),
        1u);
  }

  Log log_;
  Scheduler s_{Options(), nullptr, &log_};
  uint64_t seq_ = 0;
};

TEST_F(AttemptsOfOneJob, EachRunSaysWhereItRanAndHowItEnded) {
  auto a = Attempts(s_, seq_);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].number(), 1);
  EXPECT_EQ(a[0].worker(), "w1");
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_LOST);
  EXPECT_EQ(TimeFromProto(a[0].started_at()), kT0 + 1);
  EXPECT_EQ(TimeFromProto(a[0].finished_at()), kT0 + 1 + kSecond);
  EXPECT_FALSE(a[0].error().empty());
  EXPECT_EQ(a[1].number(), 2);
  EXPECT_EQ(a[1].worker(), "w2");
  EXPECT_EQ(a[1].outcome(), v1::ATTEMPT_OUTCOME_LOST);
  EXPECT_EQ(a[1].error(), kRestartedError);
  EXPECT_EQ(TimeFromProto(a[1].finished_at()), kT0 + 4 * kSecond);
  EXPECT_EQ(a[2].number(), 3);
  EXPECT_EQ(a[2].outcome(), v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(a[2].error(), "boom");
  EXPECT_EQ(a[2].exit_code(), 3);
  EXPECT_EQ(a[3].number(), 4);
  EXPECT_EQ(a[3].worker(), "w1");
  EXPECT_EQ(a[3].outcome(), v1::ATTEMPT_OUTCOME_RUNNING);
  EXPECT_FALSE(a[3].has_finished_at());

  ASSERT_TRUE(s_.Finish({seq_, 4, true, "done", "", 0}, kT0 + 9 * kSecond));
  a = Attempts(s_, seq_);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[3].outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  EXPECT_EQ(a[3].worker(), "w1");
  EXPECT_EQ(TimeFromProto(a[3].finished_at()), kT0 + 9 * kSecond);
}

TEST_F(AttemptsOfOneJob, ReplayAndASnapshotRebuildTheSameHistory) {
  ASSERT_TRUE(s_.Cancel(seq_, kT0 + 9 * kSecond).ok());
  auto want = Attempts(s_, seq_);
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(want[3].outcome(), v1::ATTEMPT_OUTCOME_CANCELLED);

  Scheduler replayed(Options(), nullptr);
  for (const auto& t : log_.records) replayed.Apply(t);
  EXPECT_EQ(Bytes(Attempts(replayed, seq_)), Bytes(want));

  // A snapshot, as compaction writes it, into a scheduler that knows
  // nothing, and over one that knows the job already.
  wal::v1::Transition snap;
  s_.Snapshot(*s_.Find(seq_), snap.mutable_snapshot());
  EXPECT_EQ(snap.snapshot().attempts_size(), 4);
  Scheduler restored(Options(), nullptr);
  restored.Apply(snap);
  EXPECT_EQ(Bytes(Attempts(restored, seq_)), Bytes(want));
  replayed.Apply(snap);
  EXPECT_EQ(Bytes(Attempts(replayed, seq_)), Bytes(want));
  // Forgotten with its job.
  ASSERT_TRUE(s_.DeleteJob(seq_).ok());
  EXPECT_EQ(s_.jobs_with_history(), 0u);
}

TEST(AttemptHistoryTest, AOneRunRemoteJobNamesItsWorkerWithoutAnEntry) {
  Log log;
  Scheduler s(Options(), nullptr, &log);
  uint64_t seq = s.Submit(Spec("remote"), kT0).seq;
  ASSERT_EQ(
      s.TakeRemote({"remote"}, {}, "worker-7", kT0 + 10, 1, kSecond).size(),
      1u);
  ASSERT_TRUE(s.Finish({seq, 1, true, "", "", 0}, kT0 + 20));
  EXPECT_EQ(s.jobs_with_history(), 0u);
  auto a = Attempts(s, seq);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].worker(), "worker-7");
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);

  // Replay, and a snapshot (which writes the run out for its worker), give
  // the same, again without an entry.
  Scheduler replayed(Options(), nullptr);
  for (const auto& t : log.records) replayed.Apply(t);
  EXPECT_EQ(Bytes(Attempts(replayed, seq)), Bytes(a));
  EXPECT_EQ(replayed.jobs_with_history(), 0u);
  wal::v1::Transition t;
  s.Snapshot(*s.Find(seq), t.mutable_snapshot());
  ASSERT_EQ(t.snapshot().attempts_size(), 1);
  Scheduler restored(Options(), nullptr);
  restored.Apply(t);
  EXPECT_EQ(Bytes(Attempts(restored, seq)), Bytes(a));
  EXPECT_EQ(restored.jobs_with_history(), 0u);
}

TEST(AttemptHistoryTest, OnlyTheLastTwentyAreKeptAndTheRestCounted) {
  Log log;
  Scheduler s(Options(), nullptr, &log);
  uint64_t seq = s.Submit(Spec("noop", 25), kT0).seq;
  TimeUs now = kT0;
  for (int i = 1; i <= 25; ++i) {
    s.Tick(now);
    auto run = s.TakeRunnable(now, 1);
    ASSERT_EQ(run.size(), 1u) << i;
    ASSERT_TRUE(
        s.Finish({seq, i, false, "", "e" + std::to_string(i), i}, now + 1));
    now += 2 * kSecond;
  }
  EXPECT_EQ(v1::JobState(s.Find(seq)->state), v1::JOB_STATE_DEAD);
  auto a = Attempts(s, seq);
  ASSERT_EQ(a.size(), AttemptHistory::kKept);
  EXPECT_EQ(a.front().number(), 6);
  EXPECT_EQ(a.front().dropped_before(), 5);
  EXPECT_EQ(a.back().number(), 25);
  EXPECT_EQ(a.back().error(), "e25");
  for (size_t i = 1; i < a.size(); ++i) EXPECT_EQ(a[i].dropped_before(), 0);
  // The count of dropped ones survives a snapshot too.
  wal::v1::Transition snap;
  s.Snapshot(*s.Find(seq), snap.mutable_snapshot());
  Scheduler restored(Options(), nullptr);
  restored.Apply(snap);
  EXPECT_EQ(Bytes(Attempts(restored, seq)), Bytes(a));
}

TEST(AttemptHistoryTest, RetryingADeadJobKeepsTheRunBeforeIt) {
  Log log;
  Scheduler s(Options(), nullptr, &log);
  uint64_t seq = s.Submit(Spec(), kT0).seq;
  ASSERT_EQ(s.TakeRunnable(kT0, 1).size(), 1u);
  ASSERT_TRUE(s.Finish({seq, 1, false, "", "boom", 1}, kT0 + 1));
  ASSERT_EQ(s.jobs_with_history(), 0u);
  ASSERT_TRUE(s.RetryJob(seq, kT0 + 2).ok());
  ASSERT_EQ(s.TakeRunnable(kT0 + 3, 1).size(), 1u);
  ASSERT_TRUE(s.Finish({seq, 1, true, "", "", 0}, kT0 + 4));
  auto a = Attempts(s, seq);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].outcome(), v1::ATTEMPT_OUTCOME_FAILED);
  EXPECT_EQ(a[0].error(), "boom");
  EXPECT_EQ(TimeFromProto(a[0].finished_at()), kT0 + 1);
  EXPECT_EQ(a[1].number(), 1);  // Counted afresh after the retry.
  EXPECT_EQ(a[1].outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  Scheduler replayed(Options(), nullptr);
  for (const auto& t : log.records) replayed.Apply(t);
  EXPECT_EQ(Bytes(Attempts(replayed, seq)), Bytes(a));
}

TEST(AttemptHistoryTest, ALongErrorIsCutAtAUtf8Boundary) {
  AttemptHistory h;
  AttemptRecord run;
  run.number = 1;
  run.error = std::string(AttemptHistory::kMaxError - 1, 'x') + "\xC3\xA9tat";
  h.Add(7, run);
  google::protobuf::RepeatedPtrField<v1::Attempt> out;
  h.ToProto(7, &out);
  ASSERT_EQ(out.size(), 1);
  EXPECT_EQ(out[0].error(), std::string(AttemptHistory::kMaxError - 1, 'x'));
}

}  // namespace
}  // namespace jobq::core
