#include "powershell/clixml/scalars.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/time/utc_time.h"

namespace easgate::powershell::scalars {
namespace {

constexpr std::int64_t kTicksPerSecond = 10'000'000;
constexpr std::int64_t kTicksPerMinute = 60 * kTicksPerSecond;
constexpr std::int64_t kTicksPerHour = 60 * kTicksPerMinute;
constexpr std::int64_t kTicksPerDay = 24 * kTicksPerHour;
constexpr std::int64_t kMaxDateTimeTicks =
    3'155'378'975'999'999'999;  // 9999-12-31T23:59:59.9999999

// Wide enough that no xs:duration component below 2^80 can overflow it.
__extension__ typedef __int128 Wide;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

const std::int64_t kEpochDays = daysFromCivil(1, 1, 1);  // 0001-01-01 in days since 1970

unsigned daysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos`.
std::optional<unsigned> fixedDigits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!isDigit(s[pos + i])) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(s[pos + i] - '0');
  }
  pos += n;
  return v;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

// Fractional seconds as ticks: the first 7 digits count, later ones are truncated.
std::optional<std::int64_t> fractionTicks(std::string_view s, std::size_t& pos) {
  std::size_t start = pos;
  std::int64_t ticks = 0;
  std::size_t digits = 0;
  while (pos < s.size() && isDigit(s[pos])) {
    if (digits < 7) ticks = ticks * 10 + (s[pos] - '0');
    ++digits;
    ++pos;
  }
  if (pos == start) return std::nullopt;
  for (; digits < 7; ++digits) ticks *= 10;
  return ticks;
}

void appendPadded(std::string& out, std::int64_t value, int width) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(value));
  out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

std::string_view trimXmlSpace(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

std::optional<std::int64_t> parseSigned(std::string_view text, std::int64_t min, std::int64_t max) {
  text = trimXmlSpace(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view text, std::uint64_t max) {
  text = trimXmlSpace(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v > max) {
    return std::nullopt;
  }
  return v;
}

std::optional<bool> parseBool(std::string_view text) {
  text = trimXmlSpace(text);
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

std::optional<double> parseDouble(std::string_view text) {
  text = trimXmlSpace(text);
  if (text == "INF" || text == "+INF" || text == "Infinity")
    return std::numeric_limits<double>::infinity();
  if (text == "-INF" || text == "-Infinity") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  // from_chars would also accept "inf"/"nan" spellings that XML Schema does not.
  if (text.empty() || !(isDigit(text.front()) || text.front() == '-' || text.front() == '.')) {
    return std::nullopt;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> parseSingle(std::string_view text) {
  auto v = parseDouble(text);
  if (!v || !std::isfinite(*v)) return v;
  if (std::fabs(*v) > std::numeric_limits<float>::max()) return std::nullopt;
  return static_cast<double>(static_cast<float>(*v));
}

std::optional<std::string> parseDecimal(std::string_view text) {
  text = trimXmlSpace(text);
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < text.size() && isDigit(text[i])) ++i, ++int_digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && isDigit(text[i])) ++i, ++frac_digits;
  }
  if (i != text.size() || int_digits + frac_digits == 0 || int_digits + frac_digits > 29) {
    return std::nullopt;  // .NET's decimal holds at most 29 significant digits
  }
  return std::string(text);
}

std::optional<std::string> parseGuid(std::string_view text) {
  text = trimXmlSpace(text);
  if (text.size() != 36) return std::nullopt;
  std::string out(text);
  for (std::size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!(isDigit(c) || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return out;
}

std::optional<std::string> parseVersion(std::string_view text) {
  text = trimXmlSpace(text);
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    while (i < text.size() && isDigit(text[i])) ++i;
    if (i == start || i - start > 10) return std::nullopt;
    if (!parseSigned(text.substr(start, i - start), 0, std::numeric_limits<std::int32_t>::max())) {
      return std::nullopt;
    }
    ++parts;
    if (i == text.size()) break;
    if (text[i] != '.') return std::nullopt;
    ++i;
  }
  if (parts < 2 || parts > 4) return std::nullopt;
  return std::string(text);
}

std::optional<std::vector<std::uint8_t>> parseBase64(std::string_view text) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (isDigit(c)) return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0, padding = 0;
  std::size_t symbols = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    ++symbols;
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = sextet(c);
    if (v < 0 || padding > 0) return std::nullopt;  // nothing may follow padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  if (symbols % 4 != 0 || padding > 2) return std::nullopt;
  return out;
}

std::optional<PsDateTime> parseDateTime(std::string_view text) {
  text = trimXmlSpace(text);
  std::size_t p = 0;
  auto year = fixedDigits(text, p, 4);
  if (!year || !expect(text, p, '-')) return std::nullopt;
  auto month = fixedDigits(text, p, 2);
  if (!month || !expect(text, p, '-')) return std::nullopt;
  auto day = fixedDigits(text, p, 2);
  if (!day || !expect(text, p, 'T')) return std::nullopt;
  auto hour = fixedDigits(text, p, 2);
  if (!hour || !expect(text, p, ':')) return std::nullopt;
  auto minute = fixedDigits(text, p, 2);
  if (!minute || !expect(text, p, ':')) return std::nullopt;
  auto second = fixedDigits(text, p, 2);
  if (!second) return std::nullopt;
  if (*year < 1 || *month < 1 || *month > 12 || *day < 1 || *day > daysInMonth(*year, *month) ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  std::int64_t fraction = 0;
  if (expect(text, p, '.')) {
    auto f = fractionTicks(text, p);
    if (!f) return std::nullopt;
    fraction = *f;
  }
  PsDateTime dt;
  if (p == text.size()) {
    dt.kind = DateTimeKind::kUnspecified;
  } else if (text[p] == 'Z' && p + 1 == text.size()) {
    dt.kind = DateTimeKind::kUtc;
  } else if (text[p] == '+' || text[p] == '-') {
    int sign = text[p] == '-' ? -1 : 1;
    ++p;
    auto oh = fixedDigits(text, p, 2);
    if (!oh || !expect(text, p, ':')) return std::nullopt;
    auto om = fixedDigits(text, p, 2);
    if (!om || p != text.size() || *oh > 14 || *om > 59) return std::nullopt;
    dt.kind = DateTimeKind::kOffset;
    dt.offset_minutes = static_cast<std::int16_t>(sign * static_cast<int>(*oh * 60 + *om));
  } else {
    return std::nullopt;
  }
  std::int64_t days = daysFromCivil(*year, *month, *day) - kEpochDays;
  dt.ticks = days * kTicksPerDay + *hour * kTicksPerHour + *minute * kTicksPerMinute +
             *second * kTicksPerSecond + fraction;
  return dt;
}

std::optional<std::int64_t> parseTimeSpan(std::string_view text) {
  text = trimXmlSpace(text);
  std::size_t p = 0;
  bool negative = expect(text, p, '-');
  if (!expect(text, p, 'P')) return std::nullopt;
  // .NET reads a year as 365 days and a month as 30 days.
  Wide total = 0;
  bool in_time = false, any = false, time_component = false;
  char last_designator = 0;
  static constexpr std::string_view kDateOrder = "YMD", kTimeOrder = "HMS";
  while (p < text.size()) {
    if (!in_time && text[p] == 'T') {
      in_time = true;
      last_designator = 0;
      ++p;
      continue;
    }
    std::size_t start = p;
    Wide whole = 0;
    while (p < text.size() && isDigit(text[p])) {
      whole = whole * 10 + (text[p] - '0');
      if (whole > (Wide{1} << 80)) return std::nullopt;
      ++p;
    }
    if (p == start) return std::nullopt;
    std::int64_t fraction = 0;
    if (p < text.size() && text[p] == '.') {
      if (!in_time) return std::nullopt;
      ++p;
      auto f = fractionTicks(text, p);
      if (!f) return std::nullopt;
      fraction = *f;
      if (p >= text.size() || text[p] != 'S') return std::nullopt;
    }
    if (p >= text.size()) return std::nullopt;
    char designator = text[p++];
    std::string_view order = in_time ? kTimeOrder : kDateOrder;
    auto at = order.find(designator);
    if (at == std::string_view::npos || (last_designator && at <= order.find(last_designator))) {
      return std::nullopt;  // unknown or out-of-order designator
    }
    last_designator = designator;
    static constexpr std::int64_t kDate[] = {365 * kTicksPerDay, 30 * kTicksPerDay, kTicksPerDay};
    static constexpr std::int64_t kTime[] = {kTicksPerHour, kTicksPerMinute, kTicksPerSecond};
    total += whole * (in_time ? kTime[at] : kDate[at]) + fraction;
    any = true;
    time_component = time_component || in_time;
  }
  if (!any || (in_time && !time_component)) return std::nullopt;
  if (total > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
  auto ticks = static_cast<std::int64_t>(total);
  return negative ? -ticks : ticks;
}

std::string formatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "INF" : "-INF";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

std::string formatSingle(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "INF" : "-INF";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(value));
  return std::string(buf, end);
}

std::string formatBase64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 0x3F]);
  }
  if (i < bytes.size()) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (i + 1 < bytes.size()) v |= std::uint32_t{bytes[i + 1]} << 8;
    out.push_back(kAlphabet[(v >> 18) & 0x3F]);
    out.push_back(kAlphabet[(v >> 12) & 0x3F]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

namespace {}  // namespace

std::string formatDateTime(const PsDateTime& value) {
  std::string out;
  utc::appendCalendarTime(out, value.ticks, true);
  if (value.kind == DateTimeKind::kUtc) {
    out.push_back('Z');
  } else if (value.kind == DateTimeKind::kOffset) {
    int minutes = value.offset_minutes;
    out.push_back(minutes < 0 ? '-' : '+');
    minutes = std::abs(minutes);
    appendPadded(out, minutes / 60, 2);
    out.push_back(':');
    appendPadded(out, minutes % 60, 2);
  }
  return out;
}

std::string formatTimeSpan(std::int64_t ticks) {
  if (ticks == 0) return "PT0S";
  std::string out;
  // Work in unsigned so that the most negative value still has a magnitude.
  std::uint64_t magnitude =
      ticks < 0 ? 0 - static_cast<std::uint64_t>(ticks) : static_cast<std::uint64_t>(ticks);
  if (ticks < 0) out.push_back('-');
  out.push_back('P');
  const auto tpd = static_cast<std::uint64_t>(kTicksPerDay);
  const auto tph = static_cast<std::uint64_t>(kTicksPerHour);
  const auto tpm = static_cast<std::uint64_t>(kTicksPerMinute);
  const auto tps = static_cast<std::uint64_t>(kTicksPerSecond);
  std::uint64_t days = magnitude / tpd, rest = magnitude % tpd;
  if (days) out += std::to_string(days) + "D";
  if (rest) {
    out.push_back('T');
    if (rest / tph) out += std::to_string(rest / tph) + "H";
    if (rest % tph / tpm) out += std::to_string(rest % tph / tpm) + "M";
    std::uint64_t seconds = rest % tpm / tps, fraction = rest % tps;
    if (seconds || fraction) {
      out += std::to_string(seconds);
      if (fraction) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 7 - digits.size(), '0');
        while (digits.back() == '0') digits.pop_back();
        out += "." + digits;
      }
      out.push_back('S');
    }
  }
  return out;
}

}  // namespace easgate::powershell::scalars
