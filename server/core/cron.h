#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace jobq::core {

// A recurring schedule's spec: when its slots fall.
//
// Accepted forms:
// - Five cron fields, "minute hour day-of-month month day-of-week":
//   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
//   day-of-week 0-7 (0 and 7 are Sunday) or SUN-SAT; names in any case.
//   Each field is a list ("1,15,30") of `*`, a value, or a range ("1-5"),
//   each optionally with a step ("*/15", "9-17/2", "5/10" = "5-max/10").
//   When both day fields are restricted (neither starts with `*`), a day
//   matches when either matches (the classic cron OR rule); otherwise only
//   the restricted one counts.
// - Macros: @hourly, @daily (@midnight), @weekly, @monthly, @yearly
//   (@annually), which are "0 * * * *", "0 0 * * *", "0 0 * * 0",
//   "0 0 1 * *" and "0 0 1 1 *".
// - "@every DURATION" (absl's syntax: "10s", "1m30s", "2h"; at least 1s):
//   slots at every multiple of the duration since the Unix epoch, so they
//   do not depend on when the schedule was made or the daemon started, and
//   the time zone does not matter.
//
// Cron slots are wall-clock times in the schedule's time zone. Across
// daylight-saving changes (as cronie and most cron libraries do):
// - a slot inside the skipped hour (spring forward) falls at the first
//   instant after the gap, once, however many slots the gap held;
// - a slot inside the repeated hour (fall back) falls once, at its first
//   occurrence.
//
// Immutable and cheap to copy. Thread: any.
class CronSpec {
 public:
  // INVALID_ARGUMENT naming `field` (the API field, e.g. "schedule.spec"),
  // the cron field and what is wrong with it.
  static absl::StatusOr<CronSpec> Parse(absl::string_view spec,
                                        absl::string_view field = "spec");

  // The first slot strictly after `after`, as it falls in `tz`; 0 when no
  // slot comes in the next 30 years (e.g. "0 0 30 2 *").
  TimeUs Next(TimeUs after, const absl::TimeZone& tz) const;

  // The last slot at or before `at` and after `after` (0: none), found by
  // walking Next from shortly before `at` (at most `max_steps` slots).
  TimeUs LastAtOrBefore(TimeUs after, TimeUs at, const absl::TimeZone& tz,
                        int max_steps = 100'000) const;

  // A spec with no slots (Next is always 0).
  CronSpec() = default;

  // "@every" specs: the interval; 0 for cron fields.
  DurationUs every() const { return every_; }
  const std::string& text() const { return text_; }

 private:
  bool DayMatches(int dom, int dow) const;

  std::string text_;
  DurationUs every_ = 0;
  uint64_t minutes_ = 0;  // Bit i: minute i.
  uint32_t hours_ = 0;
  uint32_t days_ = 0;      // Bit i: day-of-month i (1-31).
  uint32_t months_ = 0;    // Bit i: month i (1-12).
  uint32_t weekdays_ = 0;  // Bit i: day-of-week i (0-6, Sunday 0).
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

// Loads an IANA time zone ("Europe/Berlin"; empty is UTC). INVALID_ARGUMENT
// naming `field` when it is unknown.
absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name,
                                        absl::string_view field = "time_zone");

}  // namespace jobq::core
