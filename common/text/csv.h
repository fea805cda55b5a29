#pragma once

#include <string>
#include <string_view>

namespace easgate::text {

// Appends `value` as one RFC 4180 field: quoted when it holds , " CR or LF, quotes doubled.
// With `formula_guard`, a value a spreadsheet would run as a formula (starting with = + - @ TAB
// or CR) is quoted and prefixed with ' (OWASP's CSV injection advice).
inline void appendCsvField(std::string& line, std::string_view value, bool formula_guard) {
  const bool guard = formula_guard && !value.empty() &&
                     std::string_view("=+-@\t\r").find(value.front()) != std::string_view::npos;
  const bool quote = guard || value.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) {
    line.append(value);
    return;
  }
  line.push_back('"');
  if (guard) line.push_back('\'');
  for (char c : value) {
    if (c == '"') line.push_back('"');
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace easgate::text
