// The cron parser and its next-slot computation: fields, lists, ranges,
// steps, names, the day-of-month/day-of-week OR rule, macros, @every, month
// ends, leap days, and daylight-saving changes in two time zones.
#include "core/cron.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/civil_time.h"

namespace jobq::core {
namespace {

absl::TimeZone Zone(const std::string& name) {
  auto tz = LoadZone(name);
  EXPECT_TRUE(tz.ok()) << tz.status();
  return tz.ok() ? *tz : absl::UTCTimeZone();
}

TimeUs At(absl::CivilSecond cs, const absl::TimeZone& tz) {
  return absl::ToUnixMicros(absl::FromCivil(cs, tz));
}

// Formats a slot as local civil time with its UTC offset, e.g.
// "2026-03-29T03:00:00+02:00".
std::string Local(TimeUs t, const absl::TimeZone& tz) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", absl::FromUnixMicros(t), tz);
}

// The first `n` slots after `from`, as Local() strings.
std::vector<std::string> Slots(const std::string& spec, const std::string& zone,
                               absl::CivilSecond from, int n) {
  auto cron = CronSpec::Parse(spec);
  EXPECT_TRUE(cron.ok()) << cron.status();
  if (!cron.ok()) return {};
  absl::TimeZone tz = Zone(zone);
  std::vector<std::string> out;
  TimeUs t = At(from, tz);
  for (int i = 0; i < n; ++i) {
    t = cron->Next(t, tz);
    if (t == 0) break;
    out.push_back(Local(t, tz));
  }
  return out;
}

std::string ParseError(const std::string& spec) {
  auto cron = CronSpec::Parse(spec, "schedule.spec");
  EXPECT_FALSE(cron.ok()) << spec;
  if (cron.ok()) return "";
  EXPECT_EQ(cron.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(cron.status().message());
}

using Strings = std::vector<std::string>;

TEST(CronSpecTest, EveryFiveMinutesFallsOnMultiplesOfFive) {
  EXPECT_EQ(
      Slots("*/5 * * * *", "UTC", absl::CivilSecond(2026, 1, 1, 10, 3, 20), 3),
      (Strings{"2026-01-01T10:05:00+00:00", "2026-01-01T10:10:00+00:00",
               "2026-01-01T10:15:00+00:00"}));
}

TEST(CronSpecTest, NextIsStrictlyAfterTheGivenTime) {
  EXPECT_EQ(
      Slots("30 9 * * *", "UTC", absl::CivilSecond(2026, 1, 1, 9, 30, 0), 1),
      (Strings{"2026-01-02T09:30:00+00:00"}));
}

TEST(CronSpecTest, ListsRangesAndStepsCombine) {
  EXPECT_EQ(
      Slots("0,30 9-17/4 * * *", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0),
            6),
      (Strings{"2026-01-01T09:00:00+00:00", "2026-01-01T09:30:00+00:00",
               "2026-01-01T13:00:00+00:00", "2026-01-01T13:30:00+00:00",
               "2026-01-01T17:00:00+00:00", "2026-01-01T17:30:00+00:00"}));
}

TEST(CronSpecTest, AValueWithAStepRunsToTheEndOfTheRange) {
  EXPECT_EQ(
      Slots("50/5 0 * * *", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 3),
      (Strings{"2026-01-01T00:50:00+00:00", "2026-01-01T00:55:00+00:00",
               "2026-01-02T00:50:00+00:00"}));
}

TEST(CronSpecTest, NamesOfMonthsAndWeekdaysInAnyCase) {
  // 2026-01-01 is a Thursday.
  EXPECT_EQ(
      Slots("0 8 * jan,Mar mon-wed", "UTC",
            absl::CivilSecond(2026, 1, 1, 0, 0, 0), 4),
      (Strings{"2026-01-05T08:00:00+00:00", "2026-01-06T08:00:00+00:00",
               "2026-01-07T08:00:00+00:00", "2026-01-12T08:00:00+00:00"}));
  EXPECT_EQ(
      Slots("0 0 * FEB *", "UTC", absl::CivilSecond(2026, 3, 1, 0, 0, 0), 1),
      (Strings{"2027-02-01T00:00:00+00:00"}));
}

TEST(CronSpecTest, SundayIsBothZeroAndSeven) {
  // 2026-01-04 is a Sunday.
  EXPECT_EQ(
      Slots("0 0 * * 7", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 1),
      (Strings{"2026-01-04T00:00:00+00:00"}));
  EXPECT_EQ(
      Slots("0 0 * * 0", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 1),
      (Strings{"2026-01-04T00:00:00+00:00"}));
}

TEST(CronSpecTest, BothDayFieldsRestrictedMatchEitherOne) {
  // The 13th, or any Friday: Fri 2, Fri 9, Tue 13, Fri 16 (January 2026).
  EXPECT_EQ(
      Slots("0 0 13 * FRI", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 4),
      (Strings{"2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
               "2026-01-13T00:00:00+00:00", "2026-01-16T00:00:00+00:00"}));
}

TEST(CronSpecTest, AStarredDayFieldLeavesTheOtherAlone) {
  // Day-of-month starred (even with a step): only Fridays count.
  EXPECT_EQ(
      Slots("0 0 */1 * FRI", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 2),
      (Strings{"2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00"}));
  // Day-of-week starred: only the 13th.
  EXPECT_EQ(
      Slots("0 0 13 * *", "UTC", absl::CivilSecond(2026, 1, 1, 0, 0, 0), 2),
      (Strings{"2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00"}));
}

TEST(CronSpecTest, TheThirtyFirstSkipsShortMonths) {
  EXPECT_EQ(
      Slots("0 12 31 * *", "UTC", absl::CivilSecond(2026, 1, 31, 13, 0, 0), 3),
      (Strings{"2026-03-31T12:00:00+00:00", "2026-05-31T12:00:00+00:00",
               "2026-07-31T12:00:00+00:00"}));
}

TEST(CronSpecTest, FebruaryTheTwentyNinthComesInLeapYearsOnly) {
  EXPECT_EQ(
      Slots("0 0 29 2 *", "UTC", absl::CivilSecond(2025, 1, 1, 0, 0, 0), 2),
      (Strings{"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"}));
}

TEST(CronSpecTest, ADayThatNeverComesHasNoSlot) {
  auto cron = CronSpec::Parse("0 0 30 2 *");
  ASSERT_TRUE(cron.ok());
  EXPECT_EQ(cron->Next(
                At(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone()),
                absl::UTCTimeZone()),
            0);
}

TEST(CronSpecTest, MacrosExpandToTheirCronFields) {
  absl::CivilSecond from(2026, 5, 17, 13, 45, 0);  // A Sunday.
  EXPECT_EQ(Slots("@hourly", "UTC", from, 1),
            (Strings{"2026-05-17T14:00:00+00:00"}));
  EXPECT_EQ(Slots("@daily", "UTC", from, 1),
            (Strings{"2026-05-18T00:00:00+00:00"}));
  EXPECT_EQ(Slots("@weekly", "UTC", from, 1),
            (Strings{"2026-05-24T00:00:00+00:00"}));
  EXPECT_EQ(Slots("@monthly", "UTC", from, 1),
            (Strings{"2026-06-01T00:00:00+00:00"}));
  EXPECT_EQ(Slots("@yearly", "UTC", from, 1),
            (Strings{"2027-01-01T00:00:00+00:00"}));
}

TEST(CronSpecTest, EveryFallsOnMultiplesOfItsIntervalSinceTheEpoch) {
  auto cron = CronSpec::Parse("@every 10s");
  ASSERT_TRUE(cron.ok());
  EXPECT_EQ(cron->every(), 10 * kSecond);
  absl::TimeZone tz = Zone("Europe/Berlin");  // Makes no difference.
  EXPECT_EQ(cron->Next(1'000'000'003 * kSecond, tz), 1'000'000'010 * kSecond);
  EXPECT_EQ(cron->Next(1'000'000'010 * kSecond, tz), 1'000'000'020 * kSecond);
  auto mixed = CronSpec::Parse("@every 1m30s");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->Next(0, tz), 90 * kSecond);
}

TEST(CronSpecTest, LastAtOrBeforeFindsTheLatestMissedSlot) {
  auto cron = CronSpec::Parse("*/5 * * * *");
  ASSERT_TRUE(cron.ok());
  absl::TimeZone utc = absl::UTCTimeZone();
  TimeUs after = At(absl::CivilSecond(2026, 1, 1, 0, 0, 0), utc);
  EXPECT_EQ(cron->LastAtOrBefore(
                after, At(absl::CivilSecond(2026, 3, 1, 7, 13, 0), utc), utc),
            At(absl::CivilSecond(2026, 3, 1, 7, 10, 0), utc));
  EXPECT_EQ(cron->LastAtOrBefore(
                after, At(absl::CivilSecond(2026, 1, 1, 0, 4, 0), utc), utc),
            0);
  auto yearly = CronSpec::Parse("0 0 29 2 *");
  ASSERT_TRUE(yearly.ok());
  EXPECT_EQ(yearly->LastAtOrBefore(
                At(absl::CivilSecond(2025, 1, 1, 0, 0, 0), utc),
                At(absl::CivilSecond(2033, 1, 1, 0, 0, 0), utc), utc),
            At(absl::CivilSecond(2032, 2, 29, 0, 0, 0), utc));
  auto every = CronSpec::Parse("@every 1s");
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->LastAtOrBefore(10 * kSecond, 15 * kSecond + 500, utc),
            15 * kSecond);
  EXPECT_EQ(every->LastAtOrBefore(15 * kSecond, 15 * kSecond + 500, utc), 0);
}

// ---- Daylight saving. ----

TEST(CronSpecTest, BerlinSpringForwardSlotFiresOnceRightAfterTheGap) {
  // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
  EXPECT_EQ(Slots("30 2 * * *", "Europe/Berlin",
                  absl::CivilSecond(2026, 3, 28, 12, 0, 0), 3),
            (Strings{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
                     "2026-03-31T02:30:00+02:00"}));
}

TEST(CronSpecTest, SlotsInsideTheGapCoalesceIntoOne) {
  // Every 15 minutes: 02:00-02:45 do not exist and fall at 03:00 once,
  // together with 03:00 itself.
  EXPECT_EQ(
      Slots("*/15 * * * *", "Europe/Berlin",
            absl::CivilSecond(2026, 3, 29, 1, 40, 0), 4),
      (Strings{"2026-03-29T01:45:00+01:00", "2026-03-29T03:00:00+02:00",
               "2026-03-29T03:15:00+02:00", "2026-03-29T03:30:00+02:00"}));
}

TEST(CronSpecTest, BerlinRepeatedHourFiresOnce) {
  // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
  EXPECT_EQ(
      Slots("30 2 * * *", "Europe/Berlin",
            absl::CivilSecond(2026, 10, 24, 12, 0, 0), 2),
      (Strings{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}));
}

TEST(CronSpecTest, RepeatedHourEveryQuarterFiresEachQuarterOnce) {
  EXPECT_EQ(
      Slots("*/30 * * * *", "Europe/Berlin",
            absl::CivilSecond(2026, 10, 25, 1, 50, 0), 4),
      (Strings{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
               "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00"}));
}

TEST(CronSpecTest, NextFromInsideTheSecondPassDoesNotRepeatTheHour) {
  auto cron = CronSpec::Parse("45 1 * * *");
  ASSERT_TRUE(cron.ok());
  absl::TimeZone ny = Zone("America/New_York");
  // 2026-11-01 01:50 EST, the second pass of 01:xx (EDT ended at 02:00).
  absl::TimeZone::TimeInfo info =
      ny.At(absl::CivilSecond(2026, 11, 1, 1, 50, 0));
  ASSERT_EQ(info.kind, absl::TimeZone::TimeInfo::REPEATED);
  TimeUs second_pass = absl::ToUnixMicros(info.post);
  EXPECT_EQ(Local(cron->Next(second_pass, ny), ny),
            "2026-11-02T01:45:00-05:00");
}

TEST(CronSpecTest, NewYorkSpringForwardAndFallBack) {
  // 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
  EXPECT_EQ(
      Slots("15 2 * * *", "America/New_York",
            absl::CivilSecond(2026, 3, 7, 12, 0, 0), 2),
      (Strings{"2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"}));
  EXPECT_EQ(
      Slots("15 1 * * *", "America/New_York",
            absl::CivilSecond(2026, 10, 31, 12, 0, 0), 2),
      (Strings{"2026-11-01T01:15:00-04:00", "2026-11-02T01:15:00-05:00"}));
}

TEST(CronSpecTest, HourlyAcrossFallBackFiresEveryRealHourOnce) {
  // 01:00 EDT, (01:00 EST is the repeat: skipped), 02:00 EST.
  EXPECT_EQ(Slots("0 * * * *", "America/New_York",
                  absl::CivilSecond(2026, 11, 1, 0, 30, 0), 3),
            (Strings{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00",
                     "2026-11-01T03:00:00-05:00"}));
}

// ---- Errors name the field and what is wrong. ----

TEST(CronSpecTest, ErrorsNameTheFieldAndTheProblem) {
  EXPECT_EQ(ParseError("61 * * * *"),
            "schedule.spec: minute field \"61\": 61 is out of range 0-59");
  EXPECT_EQ(ParseError("* 24 * * *"),
            "schedule.spec: hour field \"24\": 24 is out of range 0-23");
  EXPECT_EQ(ParseError("* * 0 * *"),
            "schedule.spec: day-of-month field \"0\": 0 is out of range 1-31");
  EXPECT_EQ(ParseError("* * * 13 *"),
            "schedule.spec: month field \"13\": 13 is out of range 1-12");
  EXPECT_EQ(ParseError("* * * * FOO"),
            "schedule.spec: day-of-week field \"FOO\": \"FOO\" is neither a "
            "number nor a name (SUN...SAT)");
  EXPECT_EQ(ParseError("*/0 * * * *"),
            "schedule.spec: minute field \"*/0\": step \"0\" is not a positive "
            "number");
  EXPECT_EQ(ParseError("* 5-2 * * *"),
            "schedule.spec: hour field \"5-2\": range 5-2 runs backwards");
  EXPECT_EQ(ParseError("1,,2 * * * *"),
            "schedule.spec: minute field \"1,,2\": empty list item");
  EXPECT_EQ(ParseError("x * * * *"),
            "schedule.spec: minute field \"x\": \"x\" is not a number");
}

TEST(CronSpecTest, WrongShapesAreRefused) {
  EXPECT_NE(ParseError("* * * *").find("has 4 fields"), std::string::npos);
  EXPECT_NE(ParseError("* * * * * *").find("has 6 fields"), std::string::npos);
  EXPECT_NE(ParseError("").find("empty"), std::string::npos);
  EXPECT_NE(ParseError("@fortnightly").find("unknown macro"),
            std::string::npos);
  EXPECT_NE(ParseError("@every").find("one duration"), std::string::npos);
  EXPECT_NE(ParseError("@every soon").find("not a duration"),
            std::string::npos);
  EXPECT_NE(ParseError("@every 500ms").find("under 1s"), std::string::npos);
  EXPECT_NE(ParseError("@daily 3").find("takes no argument"),
            std::string::npos);
}

TEST(CronSpecTest, UnknownTimeZonesAreRefusedByName) {
  auto tz = LoadZone("Mars/Olympus_Mons", "schedule.time_zone");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tz.status().message().find("schedule.time_zone: unknown time zone"),
            std::string::npos);
  EXPECT_TRUE(LoadZone("").ok());  // UTC.
}

}  // namespace
}  // namespace jobq::core
