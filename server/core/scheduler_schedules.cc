// The Scheduler's recurring schedules: the commands that create, pause and
// delete them, and their firings, each a job submitted in the same
// transition as the slot it fires (ScheduleFire).

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/scheduler.h"

namespace jobq::core {
namespace {

absl::Status NoSchedule(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("schedule \"", name, "\" not found"));
}

}  // namespace

absl::StatusOr<const ScheduleEntry*> Scheduler::CreateSchedule(v1::Schedule def,
                                                               TimeUs now) {
  if (schedules_.Find(def.name()) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("schedule.name: \"", def.name(), "\" already exists"));
  }
  if (absl::Status s = ScheduleTable::Check(def); !s.ok()) return s;
  if (def.job().queue().empty()) def.mutable_job()->set_queue("default");
  wal::v1::Transition t;
  auto* p = t.mutable_schedule_put();
  *p->mutable_schedule() = std::move(def);
  p->set_created_at_us(now);
  p->set_last_slot_us(now);  // The first slot is the first after now.
  Record(t);
  return schedules_.Find(p->schedule().name());
}

absl::Status Scheduler::DeleteSchedule(const std::string& name) {
  if (schedules_.Find(name) == nullptr) return NoSchedule(name);
  wal::v1::Transition t;
  t.mutable_schedule_delete()->set_name(name);
  Record(t);
  return absl::OkStatus();
}

absl::StatusOr<const ScheduleEntry*> Scheduler::PauseSchedule(
    const std::string& name, bool paused, TimeUs now) {
  const ScheduleEntry* e = schedules_.Find(name);
  if (e == nullptr) return NoSchedule(name);
  if (e->def.paused() == paused) return e;  // Nothing to record.
  wal::v1::Transition t;
  auto* p = t.mutable_schedule_pause();
  p->set_name(name);
  p->set_paused(paused);
  p->set_at_us(now);
  Record(t);
  return schedules_.Find(name);
}

absl::StatusOr<uint64_t> Scheduler::PrepareFire(ScheduleEntry& e, TimeUs slot,
                                                TimeUs now,
                                                wal::v1::Transition* t) {
  wal::v1::Transition enqueue;
  v1::JobSpec spec = e.def.job();
  // Which schedule and slot submitted the job, for listing by label.
  auto& labels = *spec.mutable_labels();
  labels[std::string(kScheduleLabel)] = e.def.name();
  labels[std::string(kSlotLabel)] =
      slot == 0
          ? "trigger"
          : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(slot),
                             absl::UTCTimeZone());
  SubmitOutcome out = PrepareEnqueue(std::move(spec), now, &enqueue);
  if (out.refused()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("queue \"", e.def.job().queue(), "\" holds ", out.full_at,
                     " unfinished jobs, its max_queued"));
  }
  t->Clear();
  auto* f = t->mutable_schedule_fire();
  f->set_name(e.def.name());
  f->set_slot_us(slot);
  f->set_last_slot_us(slot);
  *f->mutable_enqueue() = std::move(*enqueue.mutable_enqueue());
  schedules_.SetFiring(e, true);
  return out.seq;
}

std::vector<wal::v1::Transition> Scheduler::DueFirings(TimeUs now) {
  std::vector<wal::v1::Transition> out;
  while (ScheduleEntry* e = schedules_.FirstDue(now)) {
    // Several slots due at once (the core was held up) fire once.
    TimeUs slot = e->cron.LastAtOrBefore(e->last_slot, now, e->tz);
    if (slot == 0) slot = e->next_run;
    if (e->def.overlap() == v1::OVERLAP_SKIP && e->last_job != 0) {
      const Job* last = Find(e->last_job);
      if (last != nullptr && !IsTerminal(last->state)) {
        schedules_.PassOver(*e, slot);
        continue;
      }
    }
    wal::v1::Transition t;
    if (!PrepareFire(*e, slot, now, &t).ok()) {
      schedules_.PassOver(*e, slot);  // Its queue is full.
      continue;
    }
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<uint64_t> Scheduler::PrepareTrigger(const std::string& name,
                                                   TimeUs now,
                                                   wal::v1::Transition* fire) {
  ScheduleEntry* e = schedules_.Mutable(name);
  if (e == nullptr) return NoSchedule(name);
  bool was_firing = e->firing;
  auto seq = PrepareFire(*e, 0, now, fire);
  // A trigger does not hold back the slots: only a slot's firing does.
  if (seq.ok() && !was_firing) schedules_.SetFiring(*e, false);
  return seq;
}

void Scheduler::CatchUpSchedules(TimeUs now) {
  std::vector<std::string> names;
  for (const auto& [name, e] : schedules_.entries()) {
    if (!e.def.paused() && e.def.catch_up() != v1::CATCH_UP_ONCE &&
        e.next_run != 0 && e.next_run <= now) {
      names.push_back(name);
    }
  }
  for (const auto& name : names) {
    schedules_.PassOver(*schedules_.Mutable(name), now);
  }
}

void Scheduler::ApplyScheduleFire(const wal::v1::ScheduleFire& f) {
  // Replay: the job comes with its slot, never without it; a firing of a
  // schedule since deleted still submitted its job.
  bool known = schedules_.Find(f.name()) != nullptr;
  if (schedules_.ApplyFire(f, false) || !known) ApplyEnqueue(f.enqueue());
}

void Scheduler::ApplyPreparedFire(const wal::v1::ScheduleFire& f) {
  Queue& q = GetQueue(f.enqueue().spec().queue());
  if (q.pending > 0) --q.pending;
  schedules_.ApplyFire(f, true);
  // Stored: its job exists from now on, as it will after a replay.
  ApplyEnqueue(f.enqueue());
}

void Scheduler::AbandonFire(const wal::v1::ScheduleFire& f) {
  ScheduleEntry* e = schedules_.Mutable(f.name());
  if (e != nullptr && f.slot_us() != 0) schedules_.SetFiring(*e, false);
}

}  // namespace jobq::core
