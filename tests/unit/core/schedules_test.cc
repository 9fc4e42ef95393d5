// Recurring schedules in the Scheduler, with chosen times (no clock): a
// slot fires once, the overlap and catch-up policies, pause and resume,
// triggers, and that replaying the log (or a compaction's snapshot) never
// fires a slot twice.
#include <gtest/gtest.h>

#include <vector>

#include "core/scheduler.h"

namespace jobq::core {
namespace {

// A multiple of 10 s, so that "@every 10s" slots fall at kT0 + 10 s * k.
constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

struct Log : TransitionLog {
  void Append(const wal::v1::Transition& t) override { records.push_back(t); }
  std::vector<wal::v1::Transition> records;
};

v1::Schedule Def(const std::string& name, const std::string& spec) {
  v1::Schedule d;
  d.set_name(name);
  d.set_spec(spec);
  d.mutable_job()->set_queue("reports");
  d.mutable_job()->set_kind("report");
  d.mutable_job()->set_payload("weekly");
  return d;
}

// The engine's part, as DurableAcks plays it: firings are logged and
// applied once "durable" (here at once).
class SchedulesTest : public ::testing::Test {
 protected:
  // Fires what is due at `now`; returns the firings.
  std::vector<wal::v1::ScheduleFire> Fire(Scheduler& s, Log& log, TimeUs now) {
    std::vector<wal::v1::ScheduleFire> out;
    for (auto& t : s.DueFirings(now)) {
      log.records.push_back(t);
      s.ApplyPrepared(t);
      out.push_back(t.schedule_fire());
    }
    return out;
  }
  std::vector<wal::v1::ScheduleFire> Fire(TimeUs now) {
    return Fire(s_, log_, now);
  }
  const ScheduleEntry& Entry(const std::string& name) {
    const ScheduleEntry* e = s_.schedules().Find(name);
    EXPECT_NE(e, nullptr);
    return *e;
  }
  // A fresh scheduler that replays everything logged so far.
  std::unique_ptr<Scheduler> Replay(Log* log) {
    auto s = std::make_unique<Scheduler>(SchedulerOptions{}, nullptr, log);
    for (const auto& t : log_.records) s->Apply(t);
    if (log != nullptr) log->records = log_.records;
    return s;
  }

  Log log_;
  Scheduler s_{SchedulerOptions{}, nullptr, &log_};
};

TEST_F(SchedulesTest, ASlotFiresOnceAndSubmitsTheTemplatesJob) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0 + 3).ok());
  EXPECT_EQ(Entry("tick").next_run, kT0 + 10 * kSecond);
  EXPECT_EQ(s_.NextScheduleDue(), kT0 + 10 * kSecond);
  EXPECT_TRUE(Fire(kT0 + 9 * kSecond).empty());

  auto fired = Fire(kT0 + 10 * kSecond + 2);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot_us(), kT0 + 10 * kSecond);
  const Job* job = s_.Find(fired[0].enqueue().seq());
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->queue(), "reports");
  EXPECT_EQ(job->kind(), "report");
  EXPECT_EQ(job->state, v1::JOB_STATE_READY);
  EXPECT_EQ(Entry("tick").last_job, job->seq);
  EXPECT_EQ(Entry("tick").next_run, kT0 + 20 * kSecond);

  // The same slot again, or any time before the next: nothing.
  EXPECT_TRUE(Fire(kT0 + 10 * kSecond + 2).empty());
  EXPECT_TRUE(Fire(kT0 + 19 * kSecond).empty());
  EXPECT_EQ(Fire(kT0 + 20 * kSecond).size(), 1u);
  EXPECT_EQ(s_.jobs().size(), 2u);
}

TEST_F(SchedulesTest, AFiringInFlightHoldsTheScheduleUntilApplied) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  auto due = s_.DueFirings(kT0 + 10 * kSecond);
  ASSERT_EQ(due.size(), 1u);
  // Not durable yet: no job, no second firing, no deadline.
  EXPECT_EQ(s_.jobs().size(), 0u);
  EXPECT_TRUE(s_.DueFirings(kT0 + 10 * kSecond).empty());
  EXPECT_EQ(s_.NextScheduleDue(), 0);
  s_.ApplyPrepared(due[0]);
  EXPECT_EQ(s_.jobs().size(), 1u);
  EXPECT_EQ(s_.NextScheduleDue(), kT0 + 20 * kSecond);
}

TEST_F(SchedulesTest, AnAbandonedFiringFiresAgain) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  auto due = s_.DueFirings(kT0 + 10 * kSecond);
  ASSERT_EQ(due.size(), 1u);
  s_.Abandon(due[0]);  // The log could not store it.
  EXPECT_EQ(s_.jobs().size(), 0u);
  auto again = Fire(kT0 + 11 * kSecond);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].slot_us(), kT0 + 10 * kSecond);
}

TEST_F(SchedulesTest, SeveralDueSlotsFireOnceForTheLatest) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  auto fired = Fire(kT0 + 45 * kSecond);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot_us(), kT0 + 40 * kSecond);
  EXPECT_EQ(Entry("tick").next_run, kT0 + 50 * kSecond);
}

TEST_F(SchedulesTest, OverlapSkipPassesOverSlotsWhileTheLastJobRuns) {
  v1::Schedule d = Def("tick", "@every 10s");
  d.set_overlap(v1::OVERLAP_SKIP);
  ASSERT_TRUE(s_.CreateSchedule(d, kT0).ok());
  auto first = Fire(kT0 + 10 * kSecond);
  ASSERT_EQ(first.size(), 1u);
  auto run = s_.TakeRunnable(kT0 + 10 * kSecond, 10);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_TRUE(Fire(kT0 + 20 * kSecond).empty());  // Still running.
  EXPECT_EQ(Entry("tick").next_run, kT0 + 30 * kSecond);
  EXPECT_TRUE(
      s_.Finish({run[0].seq, run[0].attempt, true}, kT0 + 25 * kSecond));
  auto next = Fire(kT0 + 30 * kSecond);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].slot_us(), kT0 + 30 * kSecond);
}

TEST_F(SchedulesTest, OverlapAllowFiresWhileTheLastJobWaits) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  EXPECT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  EXPECT_EQ(Fire(kT0 + 20 * kSecond).size(), 1u);
  EXPECT_EQ(s_.jobs().size(), 2u);
}

TEST_F(SchedulesTest, CatchUpSkipPassesOverSlotsMissedWhileDown) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  ASSERT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  // Down from kT0 + 15 s to kT0 + 95 s.
  Log log;
  auto restarted = Replay(&log);
  restarted->CatchUpSchedules(kT0 + 95 * kSecond);
  EXPECT_TRUE(Fire(*restarted, log, kT0 + 95 * kSecond).empty());
  EXPECT_EQ(restarted->NextScheduleDue(), kT0 + 100 * kSecond);
  auto next = Fire(*restarted, log, kT0 + 100 * kSecond);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].slot_us(), kT0 + 100 * kSecond);
}

TEST_F(SchedulesTest, CatchUpOnceFiresTheLatestMissedSlotOnce) {
  v1::Schedule d = Def("tick", "@every 10s");
  d.set_catch_up(v1::CATCH_UP_ONCE);
  ASSERT_TRUE(s_.CreateSchedule(d, kT0).ok());
  ASSERT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  Log log;
  auto restarted = Replay(&log);
  restarted->CatchUpSchedules(kT0 + 95 * kSecond);
  auto fired = Fire(*restarted, log, kT0 + 95 * kSecond);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].slot_us(), kT0 + 90 * kSecond);
  EXPECT_TRUE(Fire(*restarted, log, kT0 + 99 * kSecond).empty());
  EXPECT_EQ(restarted->jobs().size(), 2u);
}

TEST_F(SchedulesTest, CatchUpDoesNothingWhenNoSlotWasMissed) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  auto restarted = Replay(nullptr);
  restarted->CatchUpSchedules(kT0 + 5 * kSecond);
  EXPECT_EQ(restarted->NextScheduleDue(), kT0 + 10 * kSecond);
}

TEST_F(SchedulesTest, APausedScheduleDoesNotFireAndResumingSkipsWhatPassed) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  ASSERT_TRUE(s_.PauseSchedule("tick", true, kT0 + 5 * kSecond).ok());
  EXPECT_EQ(s_.NextScheduleDue(), 0);
  EXPECT_TRUE(Fire(kT0 + 35 * kSecond).empty());
  ASSERT_TRUE(s_.PauseSchedule("tick", false, kT0 + 35 * kSecond).ok());
  EXPECT_EQ(Entry("tick").next_run, kT0 + 40 * kSecond);
  EXPECT_TRUE(Fire(kT0 + 39 * kSecond).empty());
  EXPECT_EQ(Fire(kT0 + 40 * kSecond).size(), 1u);
  // Replayed, the pause and resume rebuild the same next slot.
  auto restarted = Replay(nullptr);
  EXPECT_EQ(restarted->schedules().Find("tick")->next_run, kT0 + 50 * kSecond);
}

TEST_F(SchedulesTest, ATriggerSubmitsNowAndLeavesTheSlotsAlone) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  wal::v1::Transition t;
  auto seq = s_.PrepareTrigger("tick", kT0 + 3 * kSecond, &t);
  ASSERT_TRUE(seq.ok());
  log_.records.push_back(t);
  s_.ApplyPrepared(t);
  ASSERT_NE(s_.Find(*seq), nullptr);
  EXPECT_EQ(Entry("tick").last_job, *seq);
  EXPECT_EQ(Entry("tick").next_run, kT0 + 10 * kSecond);
  EXPECT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  EXPECT_EQ(s_.PrepareTrigger("nope", kT0, &t).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SchedulesTest, CommandsRefuseWhatDoesNotFit) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  EXPECT_EQ(s_.CreateSchedule(Def("tick", "@daily"), kT0).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s_.CreateSchedule(Def("bad", "* * *"), kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Schedule zone = Def("zone", "@daily");
  zone.set_time_zone("Nowhere/Special");
  EXPECT_EQ(s_.CreateSchedule(zone, kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s_.DeleteSchedule("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(s_.DeleteSchedule("tick").ok());
  EXPECT_EQ(s_.schedules().size(), 0u);
  EXPECT_TRUE(Fire(kT0 + 100 * kSecond).empty());
}

TEST_F(SchedulesTest, ReplayingALogWithTheFiringNeverFiresTheSlotAgain) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  ASSERT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  // The crash came right after the firing was stored.
  auto restarted = Replay(nullptr);
  EXPECT_EQ(restarted->jobs().size(), 1u);
  restarted->CatchUpSchedules(kT0 + 10 * kSecond + 500);
  Log log;
  EXPECT_TRUE(Fire(*restarted, log, kT0 + 10 * kSecond + 500).empty());
  EXPECT_EQ(restarted->schedules().Find("tick")->next_run, kT0 + 20 * kSecond);
}

TEST_F(SchedulesTest, AFiringReadTwiceSubmitsOneJob) {
  ASSERT_TRUE(s_.CreateSchedule(Def("tick", "@every 10s"), kT0).ok());
  ASSERT_EQ(Fire(kT0 + 10 * kSecond).size(), 1u);
  log_.records.push_back(log_.records.back());  // Written again.
  auto restarted = Replay(nullptr);
  EXPECT_EQ(restarted->jobs().size(), 1u);
}

TEST_F(SchedulesTest, TheSnapshotOfASchedulesKeepsItsLastSlot) {
  v1::Schedule d = Def("tick", "@every 10s");
  d.set_overlap(v1::OVERLAP_SKIP);
  ASSERT_TRUE(s_.CreateSchedule(d, kT0).ok());
  auto fired = Fire(kT0 + 10 * kSecond);
  ASSERT_EQ(fired.size(), 1u);
  // Compaction: a snapshot of the job and of the schedule, nothing before.
  std::vector<wal::v1::Transition> snapshot(2);
  s_.Snapshot(*s_.Find(fired[0].enqueue().seq()),
              snapshot[0].mutable_snapshot());
  ScheduleTable::Snapshot(Entry("tick"), snapshot[1].mutable_schedule_put());
  // A stale copy of the firing after the snapshot changes nothing.
  snapshot.push_back(log_.records.back());
  Scheduler restarted(SchedulerOptions{}, nullptr, nullptr);
  for (const auto& t : snapshot) restarted.Apply(t);
  EXPECT_EQ(restarted.jobs().size(), 1u);
  const ScheduleEntry* e = restarted.schedules().Find("tick");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->last_slot, kT0 + 10 * kSecond);
  EXPECT_EQ(e->last_job, fired[0].enqueue().seq());
  EXPECT_EQ(e->def.overlap(), v1::OVERLAP_SKIP);
  EXPECT_EQ(e->next_run, kT0 + 20 * kSecond);
  Log log;
  EXPECT_TRUE(Fire(restarted, log, kT0 + 15 * kSecond).empty());
}

TEST_F(SchedulesTest, CronSchedulesFollowTheirTimeZone) {
  v1::Schedule d = Def("berlin", "30 2 * * *");
  d.set_time_zone("Europe/Berlin");
  // 2026-03-28 12:00 UTC; the next 02:30 in Berlin is skipped by DST and
  // falls at 03:00 CEST (01:00 UTC) on the 29th.
  TimeUs created = 1'774'699'200 * kSecond;
  ASSERT_TRUE(s_.CreateSchedule(d, created).ok());
  TimeUs slot = 1'774'746'000 * kSecond;  // 2026-03-29T01:00:00Z.
  EXPECT_EQ(Entry("berlin").next_run, slot);
  EXPECT_EQ(Fire(slot).size(), 1u);
  EXPECT_TRUE(Fire(slot + 3600 * kSecond).empty());
}

}  // namespace
}  // namespace jobq::core
