#include "common/time/utc_time.h"

#include <algorithm>
#include <array>

namespace easgate::utc {
namespace {

constexpr std::int64_t kTicksPerDay = 86'400 * kTicksPerSecond;
constexpr std::int64_t kMaxDateTimeTicks =
    3'155'378'975'999'999'999;                       // 9999-12-31T23:59:59.9999999
constexpr std::int64_t kDotNetEpochDays = -719'162;  // 0001-01-01, from 1970-01-01

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

// The proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's algorithm).
Civil civilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

// `value` (not negative, below 10^width) in exactly `width` digits, zeros first, at `at`;
// returns the end. Two digits at a time: a page of 1,000 devices writes 2,000 times.
char* writeDigits(char* at, std::int64_t value, int width) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* end = at + width;
  char* p = end;
  for (; width >= 2; width -= 2) {
    const auto pair = static_cast<std::size_t>(value % 100) * 2;
    value /= 100;
    *--p = kPairs[pair + 1];
    *--p = kPairs[pair];
  }
  if (width == 1) *--p = static_cast<char>('0' + value % 10);
  return end;
}

// "YYYY-MM-DDTHH:MM:SS[.fffffff]" at `at` (room for kLongestCalendarTime); returns the end.
constexpr std::size_t kLongestCalendarTime = 27;
char* writeCalendarTime(char* at, std::int64_t ticks, bool always_fraction) {
  ticks = std::clamp<std::int64_t>(ticks, 0, kMaxDateTimeTicks);
  const std::int64_t rest = ticks % kTicksPerDay;
  const Civil c = civilFromDays(ticks / kTicksPerDay + kDotNetEpochDays);
  const std::int64_t seconds = rest / kTicksPerSecond;
  at = writeDigits(at, c.year, 4);
  *at++ = '-';
  at = writeDigits(at, c.month, 2);
  *at++ = '-';
  at = writeDigits(at, c.day, 2);
  *at++ = 'T';
  at = writeDigits(at, seconds / 3600, 2);
  *at++ = ':';
  at = writeDigits(at, seconds / 60 % 60, 2);
  *at++ = ':';
  at = writeDigits(at, seconds % 60, 2);
  const std::int64_t fraction = rest % kTicksPerSecond;
  if (always_fraction || fraction != 0) {
    *at++ = '.';
    at = writeDigits(at, fraction, 7);
  }
  return at;
}

}  // namespace

void appendCalendarTime(std::string& out, std::int64_t ticks, bool always_fraction) {
  std::array<char, kLongestCalendarTime> text;
  const char* end = writeCalendarTime(text.data(), ticks, always_fraction);
  out.append(text.data(), static_cast<std::size_t>(end - text.data()));
}

void appendDotNetTicks(std::string& out, std::int64_t dotnet_ticks) {
  std::array<char, kLongestCalendarTime + 1> text;
  char* end = writeCalendarTime(text.data(), dotnet_ticks, false);
  *end++ = 'Z';
  out.append(text.data(), static_cast<std::size_t>(end - text.data()));
}

void appendUnixMs(std::string& out, std::int64_t unix_ms) {
  appendDotNetTicks(out, unix_ms * kTicksPerMs + kUnixEpochDotNetTicks);
}

std::string formatDotNetTicks(std::int64_t dotnet_ticks) {
  std::string out;
  out.reserve(28);
  appendDotNetTicks(out, dotnet_ticks);
  return out;
}

std::string formatSpreadsheetTicks(std::int64_t dotnet_ticks) {
  std::string out;
  out.reserve(20);
  appendCalendarTime(out, dotnet_ticks - dotnet_ticks % kTicksPerSecond, false);
  out[10] = ' ';
  return out;
}

std::string formatUnixMs(std::int64_t unix_ms) {
  std::string out;
  out.reserve(28);
  appendUnixMs(out, unix_ms);
  return out;
}

}  // namespace easgate::utc
