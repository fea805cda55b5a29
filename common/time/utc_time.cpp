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

// `value` (not negative) in exactly `width` digits, zeros first.
void appendDigits(std::string& out, std::int64_t value, int width) {
  std::array<char, 20> digits{};
  for (int i = width - 1; i >= 0; --i) {
    digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits.data(), static_cast<std::size_t>(width));
}

}  // namespace

void appendCalendarTime(std::string& out, std::int64_t ticks, bool always_fraction) {
  ticks = std::clamp<std::int64_t>(ticks, 0, kMaxDateTimeTicks);
  const std::int64_t rest = ticks % kTicksPerDay;
  const Civil c = civilFromDays(ticks / kTicksPerDay + kDotNetEpochDays);
  const std::int64_t seconds = rest / kTicksPerSecond;
  appendDigits(out, c.year, 4);
  out.push_back('-');
  appendDigits(out, c.month, 2);
  out.push_back('-');
  appendDigits(out, c.day, 2);
  out.push_back('T');
  appendDigits(out, seconds / 3600, 2);
  out.push_back(':');
  appendDigits(out, seconds / 60 % 60, 2);
  out.push_back(':');
  appendDigits(out, seconds % 60, 2);
  const std::int64_t fraction = rest % kTicksPerSecond;
  if (always_fraction || fraction != 0) {
    out.push_back('.');
    appendDigits(out, fraction, 7);
  }
}

void appendDotNetTicks(std::string& out, std::int64_t dotnet_ticks) {
  appendCalendarTime(out, dotnet_ticks, false);
  out.push_back('Z');
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
