#include "core/cron.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"

namespace jobq::core {
namespace {

struct FieldInfo {
  const char* name;
  int min;
  int max;
  // Names for values min, min+1, ... (empty: none accepted).
  std::vector<std::string> names;
};

const std::array<FieldInfo, 5>& Fields() {
  static const auto* fields = new std::array<FieldInfo, 5>{{
      {"minute", 0, 59, {}},
      {"hour", 0, 23, {}},
      {"day-of-month", 1, 31, {}},
      {"month",
       1,
       12,
       {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
        "NOV", "DEC"}},
      {"day-of-week", 0, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
  }};
  return *fields;
}

absl::Status FieldError(absl::string_view field, const FieldInfo& f,
                        absl::string_view text, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", f.name, " field \"", text, "\": ", what));
}

// A value of field `f`: a number or (where the field has names) a name.
absl::StatusOr<int> ParseValue(absl::string_view field, const FieldInfo& f,
                               absl::string_view whole, absl::string_view v) {
  int n = 0;
  if (absl::SimpleAtoi(v, &n) && !v.empty() && absl::ascii_isdigit(v[0])) {
    if (n < f.min || n > f.max) {
      return FieldError(
          field, f, whole,
          absl::StrCat(v, " is out of range ", f.min, "-", f.max));
    }
    return n;
  }
  std::string upper = absl::AsciiStrToUpper(v);
  for (size_t i = 0; i < f.names.size(); ++i) {
    if (upper == f.names[i]) return f.min + static_cast<int>(i);
  }
  if (v.empty()) return FieldError(field, f, whole, "empty value");
  return FieldError(
      field, f, whole,
      f.names.empty()
          ? absl::StrCat("\"", v, "\" is not a number")
          : absl::StrCat("\"", v, "\" is neither a number nor a name (",
                         f.names.front(), "...", f.names.back(), ")"));
}

// One field's set of values as bits.
absl::StatusOr<uint64_t> ParseField(absl::string_view field, const FieldInfo& f,
                                    absl::string_view text) {
  if (text.empty()) return FieldError(field, f, text, "empty");
  uint64_t bits = 0;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) return FieldError(field, f, text, "empty list item");
    absl::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      range = item.substr(0, slash);
      absl::string_view s = item.substr(slash + 1);
      if (!absl::SimpleAtoi(s, &step) || s.empty() ||
          !absl::ascii_isdigit(s[0]) || step <= 0) {
        return FieldError(
            field, f, text,
            absl::StrCat("step \"", s, "\" is not a positive number"));
      }
      has_step = true;
    }
    int lo = f.min;
    int hi = f.max;
    if (range == "*") {
      // Every value (with the step).
    } else if (size_t dash = range.find('-'); dash != absl::string_view::npos) {
      auto a = ParseValue(field, f, text, range.substr(0, dash));
      if (!a.ok()) return a.status();
      auto b = ParseValue(field, f, text, range.substr(dash + 1));
      if (!b.ok()) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) {
        return FieldError(field, f, text,
                          absl::StrCat("range ", range, " runs backwards"));
      }
    } else {
      auto a = ParseValue(field, f, text, range);
      if (!a.ok()) return a.status();
      lo = *a;
      if (!has_step) hi = lo;  // "5/10" means 5-max/10.
    }
    for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
  }
  return bits;
}

bool Has(uint64_t bits, int i) { return (bits >> i) & 1; }

}  // namespace

absl::StatusOr<CronSpec> CronSpec::Parse(absl::string_view spec,
                                         absl::string_view field) {
  CronSpec out;
  absl::string_view text = absl::StripAsciiWhitespace(spec);
  out.text_ = std::string(text);
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": empty (five cron fields, a macro such as @daily, or "
                     "@every DURATION)"));
  }
  std::string expanded;
  if (text[0] == '@') {
    std::vector<absl::string_view> words =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    std::string macro = absl::AsciiStrToLower(words[0]);
    if (macro == "@every") {
      if (words.size() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": @every takes one duration, e.g. \"@every 10s\""));
      }
      absl::Duration d;
      if (!absl::ParseDuration(words[1], &d)) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": @every duration \"", words[1],
                         "\" is not a duration (e.g. 10s, 5m, 1h30m)"));
      }
      if (d < absl::Seconds(1)) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": @every duration \"", words[1], "\" is under 1s"));
      }
      out.every_ = absl::ToInt64Microseconds(d);
      return out;
    }
    if (words.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", words[0], " takes no argument"));
    }
    if (macro == "@hourly") {
      expanded = "0 * * * *";
    } else if (macro == "@daily" || macro == "@midnight") {
      expanded = "0 0 * * *";
    } else if (macro == "@weekly") {
      expanded = "0 0 * * 0";
    } else if (macro == "@monthly") {
      expanded = "0 0 1 * *";
    } else if (macro == "@yearly" || macro == "@annually") {
      expanded = "0 0 1 1 *";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": unknown macro \"", words[0],
          "\" (@hourly, @daily, @weekly, @monthly, @yearly, @every)"));
    }
    text = expanded;
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (parts.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": has ", parts.size(),
        " fields; a cron spec has five (minute hour day-of-month month "
        "day-of-week)"));
  }
  std::array<uint64_t, 5> bits{};
  for (size_t i = 0; i < 5; ++i) {
    auto b = ParseField(field, Fields()[i], parts[i]);
    if (!b.ok()) return b.status();
    bits[i] = *b;
  }
  out.minutes_ = bits[0];
  out.hours_ = static_cast<uint32_t>(bits[1]);
  out.days_ = static_cast<uint32_t>(bits[2]);
  out.months_ = static_cast<uint32_t>(bits[3]);
  uint32_t dow = static_cast<uint32_t>(bits[4]);
  if (Has(dow, 7)) dow = (dow | 1) & 0x7f;  // 7 is Sunday too.
  out.weekdays_ = dow;
  out.days_star_ = parts[2][0] == '*';
  out.weekdays_star_ = parts[4][0] == '*';
  return out;
}

bool CronSpec::DayMatches(int dom, int dow) const {
  bool d = Has(days_, dom);
  bool w = Has(weekdays_, dow);
  if (days_star_ && weekdays_star_) return true;
  if (days_star_) return w;
  if (weekdays_star_) return d;
  return d || w;
}

TimeUs CronSpec::Next(TimeUs after, const absl::TimeZone& tz) const {
  if (every_ > 0) {
    // Floor division, for times before the epoch too.
    TimeUs k = after >= 0 ? after / every_ : -((-after + every_ - 1) / every_);
    return (k + 1) * every_;
  }
  absl::Time start = absl::FromUnixMicros(after);
  absl::CivilMinute m = absl::CivilMinute(absl::ToCivilSecond(start, tz)) + 1;
  const absl::civil_year_t last_year = m.year() + 30;
  while (m.year() <= last_year) {
    if (!Has(months_, m.month())) {
      m = absl::CivilMinute(absl::CivilMonth(m) + 1);
      continue;
    }
    absl::CivilDay day(m);
    int dow = static_cast<int>(absl::GetWeekday(day));  // absl: Monday 0.
    dow = (dow + 1) % 7;                                // cron: Sunday 0.
    if (!DayMatches(m.day(), dow)) {
      m = absl::CivilMinute(day + 1);
      continue;
    }
    if (!Has(hours_, m.hour())) {
      m = absl::CivilMinute(absl::CivilHour(m) + 1);
      continue;
    }
    if (!Has(minutes_, m.minute())) {
      m += 1;
      continue;
    }
    absl::TimeZone::TimeInfo info = tz.At(absl::CivilSecond(m));
    // SKIPPED: the first instant after the gap (info.trans); REPEATED: the
    // first occurrence (info.pre). UNIQUE: pre is the instant.
    absl::Time t =
        info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    TimeUs us = absl::ToUnixMicros(t);
    if (us > after) return us;
    m += 1;  // A repeated hour's first pass is behind us.
  }
  return 0;
}

TimeUs CronSpec::LastAtOrBefore(TimeUs after, TimeUs at,
                                const absl::TimeZone& tz, int max_steps) const {
  if (every_ > 0) {
    TimeUs k = at >= 0 ? at / every_ : -((-at + every_ - 1) / every_);
    TimeUs slot = k * every_;
    return slot > after ? slot : 0;
  }
  // Walk from a window before `at` that grows until it holds a slot, so
  // that a minutely spec after a long gap takes a few steps, not millions.
  for (DurationUs window :
       {3600 * kSecond, 86400 * kSecond, 32 * 86400 * kSecond,
        367 * 86400 * kSecond, int64_t{31} * 366 * 86400 * kSecond}) {
    const TimeUs start = std::max(after, at - window);
    TimeUs t = start;
    TimeUs last = 0;
    for (int i = 0; i < max_steps; ++i) {
      TimeUs n = Next(t, tz);
      if (n == 0 || n > at) break;
      last = n;
      t = n;
    }
    if (last != 0 || start == after) return last;
  }
  return 0;
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name,
                                        absl::string_view field) {
  absl::TimeZone tz;
  if (name.empty()) return absl::UTCTimeZone();
  if (!absl::LoadTimeZone(name, &tz)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": unknown time zone \"", name,
        "\" (an IANA name such as Europe/Berlin; is tzdata installed?)"));
  }
  return tz;
}

}  // namespace jobq::core
