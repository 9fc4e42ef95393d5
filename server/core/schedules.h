#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "core/cron.h"
#include "jobq/v1/jobq.pb.h"
#include "jobq/wal/v1/transition.pb.h"

namespace jobq::core {

// The labels of a fired job: its schedule's name, and its slot in UTC
// ("2026-03-29T01:00:00Z"; "trigger" for a TriggerSchedule). The API
// leaves room for them in a template's labels.
inline constexpr absl::string_view kScheduleLabel = "jobq.schedule";
inline constexpr absl::string_view kSlotLabel = "jobq.slot";

// One recurring schedule as the core holds it.
struct ScheduleEntry {
  v1::Schedule def;  // The definition; output fields unused.
  CronSpec cron;
  absl::TimeZone tz;
  TimeUs created_at = 0;
  // Slots up to here are done: fired, or passed over (paused, skipped by
  // the overlap or catch-up policy). Durable when fired or resumed; a
  // passed-over slot is remembered in memory (and by compaction).
  TimeUs last_slot = 0;
  uint64_t last_job = 0;  // 0: none yet.
  TimeUs last_run = 0;
  // The next slot to consider (0: paused, or no slot ever).
  TimeUs next_run = 0;
  // A firing is prepared and waits for its record to be durable: the
  // schedule does not fire again until it is applied or abandoned.
  bool firing = false;
};

// The schedules of the daemon, by name, and the order their slots come
// due in. Holds no jobs: the Scheduler, which owns it, submits a firing's
// job in the same transition (ScheduleFire) as the firing itself.
//
// Mutated only by the Apply* functions (and the in-memory bookkeeping of
// passed-over slots), called by the Scheduler's Apply.
// Thread: one owner (the core loop).
class ScheduleTable {
 public:
  // Parses the spec and time zone of `def`: INVALID_ARGUMENT naming
  // schedule.spec or schedule.time_zone.
  static absl::Status Check(const v1::Schedule& def);

  const ScheduleEntry* Find(const std::string& name) const;
  ScheduleEntry* Mutable(const std::string& name) {
    return const_cast<ScheduleEntry*>(Find(name));
  }
  const absl::btree_map<std::string, ScheduleEntry>& entries() const {
    return entries_;
  }
  size_t size() const { return entries_.size(); }

  // The first unpaused schedule whose next slot is due by `now` and that
  // has no firing in flight; null when none.
  ScheduleEntry* FirstDue(TimeUs now);
  // When the next slot comes (0: none). Schedules with a firing in flight
  // are not counted: their record's durability wakes the core.
  TimeUs NextDue() const;

  // Marks a firing in flight, or over (applied or abandoned).
  void SetFiring(ScheduleEntry& e, bool firing);
  // Slots up to `slot` are done without a firing (in memory).
  void PassOver(ScheduleEntry& e, TimeUs slot);

  // Transitions.
  void ApplyPut(const wal::v1::SchedulePut& p);
  void ApplyDelete(const wal::v1::ScheduleDelete& d);
  void ApplyPause(const wal::v1::SchedulePause& p);
  // The schedule half of a firing: false (nothing changed) when the
  // schedule is unknown, or the slot is not after its last and the firing
  // is not the one in flight (`prepared`: applied live, once durable; the
  // log holds it before any change made while it was in flight, so replay
  // accepts it too).
  bool ApplyFire(const wal::v1::ScheduleFire& f, bool prepared);

  // The full state of `e`, as compaction writes it.
  static void Snapshot(const ScheduleEntry& e, wal::v1::SchedulePut* out);
  // The API view, output fields included.
  static void ToProto(const ScheduleEntry& e, v1::Schedule* out);

 private:
  // Recomputes next_run from last_slot and re-indexes `e`.
  void Reschedule(ScheduleEntry& e);
  void Unindex(const ScheduleEntry& e);

  absl::btree_map<std::string, ScheduleEntry> entries_;
  // (next_run, name) of every unpaused schedule with a next slot and no
  // firing in flight.
  absl::btree_set<std::pair<TimeUs, std::string>> due_;
};

}  // namespace jobq::core
