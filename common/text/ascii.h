#pragma once

#include <string>
#include <string_view>

// ASCII case, for what is defined in ASCII: HTTP header names, hexadecimal, device IDs, type
// and container names, distinguished-name keywords. Names a person chose compare by
// text::foldCase (case_fold.h) instead.
namespace easgate::text {

constexpr char lowerAsciiChar(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAsciiChar(c);
  return out;
}

constexpr bool equalsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAsciiChar(a[i]) != lowerAsciiChar(b[i])) return false;
  }
  return true;
}

}  // namespace easgate::text
