// The one time format (common/time/utc_time.h): every time the API, the exports and the
// simulator write. Checked against the standard library's calendar (std::chrono's
// year_month_day, which shares no code with it; the C library's gmtime cannot reach years before
// 1970 on Windows), across DateTime's whole range, and at the ends of that range.
#include "common/time/utc_time.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace easgate::utc {
namespace {

// What the format should be for `ticks` (within DateTime's range), from std::chrono.
std::string expectedFor(std::int64_t ticks, bool always_fraction) {
  using namespace std::chrono;
  const std::int64_t seconds_from_unix =
      (ticks - kUnixEpochDotNetTicks - (ticks % kTicksPerSecond)) / kTicksPerSecond;
  const sys_seconds t{seconds{seconds_from_unix}};
  const auto day = floor<days>(t);
  const year_month_day date{day};
  const hh_mm_ss time{t - day};
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  std::string out = text.data();
  const std::int64_t fraction = ticks % kTicksPerSecond;
  if (always_fraction || fraction != 0) {
    std::snprintf(text.data(), text.size(), ".%07lld", static_cast<long long>(fraction));
    out += text.data();
  }
  return out;
}

TEST(UtcTime, EveryDigitAgreesWithTheStandardCalendarAcrossDateTimesRange) {
  std::mt19937_64 random(20261204);
  std::uniform_int_distribution<std::int64_t> anywhen(0, 3'155'378'975'999'999'999);
  for (int i = 0; i < 20'000; ++i) {
    std::int64_t ticks = anywhen(random);
    if (i % 3 == 0) ticks -= ticks % kTicksPerSecond;  // whole seconds: no fraction
    for (bool always_fraction : {false, true}) {
      std::string written;
      appendCalendarTime(written, ticks, always_fraction);
      ASSERT_EQ(written, expectedFor(ticks, always_fraction)) << ticks;
    }
    ASSERT_EQ(formatDotNetTicks(ticks), expectedFor(ticks, false) + "Z") << ticks;
  }
}

TEST(UtcTime, TheEndsOfTheRangeAndWhatLiesBeyondThem) {
  EXPECT_EQ(formatDotNetTicks(0), "0001-01-01T00:00:00Z");
  EXPECT_EQ(formatDotNetTicks(1), "0001-01-01T00:00:00.0000001Z");
  EXPECT_EQ(formatDotNetTicks(3'155'378'975'999'999'999), "9999-12-31T23:59:59.9999999Z");
  // Outside DateTime's range: clamped to its ends, never a fifth year digit or a minus sign.
  EXPECT_EQ(formatDotNetTicks(-1), "0001-01-01T00:00:00Z");
  EXPECT_EQ(formatDotNetTicks(INT64_MAX), "9999-12-31T23:59:59.9999999Z");
  EXPECT_EQ(formatUnixMs(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatUnixMs(951'782'400'005), "2000-02-29T00:00:00.0050000Z");  // a leap day
  EXPECT_EQ(formatSpreadsheetTicks(kUnixEpochDotNetTicks + 5), "1970-01-01 00:00:00");
  EXPECT_EQ(expectedFor(0, false), "0001-01-01T00:00:00") << "the reference itself";
}

TEST(UtcTime, AppendingKeepsWhatWasThere) {
  std::string out = "at ";
  appendUnixMs(out, 1'793'491'200'123);
  out += ", ";
  appendDotNetTicks(out, kUnixEpochDotNetTicks);
  EXPECT_EQ(out, "at 2026-11-01T00:00:00.1230000Z, 1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace easgate::utc
