#include "core/schedules.h"

#include <algorithm>

#include "common/time_proto.h"
#include "core/job.h"

namespace jobq::core {

absl::Status ScheduleTable::Check(const v1::Schedule& def) {
  auto cron = CronSpec::Parse(def.spec(), "schedule.spec");
  if (!cron.ok()) return cron.status();
  auto tz = LoadZone(def.time_zone(), "schedule.time_zone");
  if (!tz.ok()) return tz.status();
  return absl::OkStatus();
}

const ScheduleEntry* ScheduleTable::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

ScheduleEntry* ScheduleTable::FirstDue(TimeUs now) {
  if (due_.empty() || due_.begin()->first > now) return nullptr;
  return &entries_.find(due_.begin()->second)->second;
}

TimeUs ScheduleTable::NextDue() const {
  return due_.empty() ? 0 : due_.begin()->first;
}

void ScheduleTable::Unindex(const ScheduleEntry& e) {
  due_.erase({e.next_run, e.def.name()});
}

void ScheduleTable::Reschedule(ScheduleEntry& e) {
  Unindex(e);
  e.next_run = e.def.paused() ? 0 : e.cron.Next(e.last_slot, e.tz);
  if (e.next_run != 0 && !e.firing) due_.insert({e.next_run, e.def.name()});
}

void ScheduleTable::SetFiring(ScheduleEntry& e, bool firing) {
  e.firing = firing;
  Reschedule(e);
}

void ScheduleTable::PassOver(ScheduleEntry& e, TimeUs slot) {
  e.last_slot = std::max(e.last_slot, slot);
  Reschedule(e);
}

void ScheduleTable::ApplyPut(const wal::v1::SchedulePut& p) {
  // Both were checked before the Put was written; a record that no longer
  // parses (a time zone gone from tzdata) keeps the schedule, idle.
  auto cron = CronSpec::Parse(p.schedule().spec());
  auto tz = LoadZone(p.schedule().time_zone());
  const std::string& name = p.schedule().name();
  auto [it, inserted] = entries_.try_emplace(name);
  ScheduleEntry& e = it->second;
  if (!inserted) Unindex(e);
  e.def = p.schedule();
  e.cron = cron.ok() ? *cron : CronSpec();
  e.tz = tz.ok() ? *tz : absl::UTCTimeZone();
  e.firing = false;
  e.def.clear_next_run();
  e.def.clear_last_job_id();
  e.def.clear_last_run();
  e.def.clear_created_at();
  e.def.clear_last_slot();
  e.created_at = p.created_at_us();
  e.last_slot = p.last_slot_us();
  e.last_job = p.last_job_seq();
  e.last_run = p.last_run_us();
  if (!cron.ok()) {
    e.def.set_paused(true);
    e.next_run = 0;
    return;
  }
  Reschedule(e);
}

void ScheduleTable::ApplyDelete(const wal::v1::ScheduleDelete& d) {
  auto it = entries_.find(d.name());
  if (it == entries_.end()) return;
  Unindex(it->second);
  entries_.erase(it);
}

void ScheduleTable::ApplyPause(const wal::v1::SchedulePause& p) {
  auto it = entries_.find(p.name());
  if (it == entries_.end()) return;
  ScheduleEntry& e = it->second;
  e.def.set_paused(p.paused());
  // Slots passed while paused are not caught up.
  e.last_slot = std::max(e.last_slot, p.at_us());
  Reschedule(e);
}

bool ScheduleTable::ApplyFire(const wal::v1::ScheduleFire& f, bool prepared) {
  auto it = entries_.find(f.name());
  if (it == entries_.end()) return false;
  ScheduleEntry& e = it->second;
  // A trigger (slot 0) is never the slot's firing in flight.
  bool in_flight = prepared && e.firing && f.slot_us() != 0;
  if (f.slot_us() != 0) e.firing = false;
  if (!in_flight && f.slot_us() != 0 && f.slot_us() <= e.last_slot) {
    Reschedule(e);
    return false;  // This slot has fired already.
  }
  e.last_slot = std::max(e.last_slot, f.last_slot_us());
  e.last_job = f.enqueue().seq();
  e.last_run = f.enqueue().created_at_us();
  Reschedule(e);
  return true;
}

void ScheduleTable::Snapshot(const ScheduleEntry& e,
                             wal::v1::SchedulePut* out) {
  *out->mutable_schedule() = e.def;
  out->set_created_at_us(e.created_at);
  out->set_last_slot_us(e.last_slot);
  out->set_last_job_seq(e.last_job);
  out->set_last_run_us(e.last_run);
}

void ScheduleTable::ToProto(const ScheduleEntry& e, v1::Schedule* out) {
  *out = e.def;
  if (out->overlap() == v1::OVERLAP_POLICY_UNSPECIFIED) {
    out->set_overlap(v1::OVERLAP_ALLOW);
  }
  if (out->catch_up() == v1::CATCH_UP_POLICY_UNSPECIFIED) {
    out->set_catch_up(v1::CATCH_UP_SKIP);
  }
  if (e.next_run != 0) TimeToProto(e.next_run, out->mutable_next_run());
  if (e.last_job != 0) {
    out->set_last_job_id(FormatJobId(e.last_job));
    TimeToProto(e.last_run, out->mutable_last_run());
  }
  TimeToProto(e.created_at, out->mutable_created_at());
  TimeToProto(e.last_slot, out->mutable_last_slot());
}

}  // namespace jobq::core
