// The one time format (common/time/utc_time.h): every time the API, the exports and the
// simulator write. Checked against the C library's calendar (gmtime_r), which shares no code
// with it, across DateTime's whole range, and at the ends of that range.
#include "common/time/utc_time.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <random>
#include <string>

namespace easgate::utc {
namespace {

constexpr std::int64_t kTicksPerSecondHere = 10'000'000;

// What the format should be for `ticks` (within DateTime's range), from the C library.
std::string expectedFor(std::int64_t ticks, bool always_fraction) {
  const std::int64_t seconds_from_unix =
      (ticks - kUnixEpochDotNetTicks - (ticks % kTicksPerSecondHere)) / kTicksPerSecondHere;
  const auto t = static_cast<std::time_t>(seconds_from_unix);
  std::tm tm{};
  EXPECT_NE(gmtime_r(&t, &tm), nullptr);
  std::array<char, 64> text{};
  // %Y pads to four digits only on some C libraries: the year is written by hand.
  std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out = text.data();
  const std::int64_t fraction = ticks % kTicksPerSecondHere;
  if (always_fraction || fraction != 0) {
    std::snprintf(text.data(), text.size(), ".%07lld", static_cast<long long>(fraction));
    out += text.data();
  }
  return out;
}

TEST(UtcTime, EveryDigitAgreesWithTheCLibraryAcrossDateTimesRange) {
  std::mt19937_64 random(20261204);
  std::uniform_int_distribution<std::int64_t> anywhen(0, 3'155'378'975'999'999'999);
  for (int i = 0; i < 20'000; ++i) {
    std::int64_t ticks = anywhen(random);
    if (i % 3 == 0) ticks -= ticks % kTicksPerSecondHere;  // whole seconds: no fraction
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
