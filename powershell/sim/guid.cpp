#include "powershell/sim/guid.h"

#include <stdexcept>

#include "powershell/clixml/scalars.h"

namespace easgate::powershell::sim {
namespace {

int digitValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

}  // namespace

Guid::Guid(std::string_view text) {
  auto parsed = parse(text);
  if (!parsed) throw std::invalid_argument("not a GUID: " + std::string(text));
  *this = *parsed;
}

std::optional<Guid> Guid::parse(std::string_view text) {
  const auto canonical = scalars::parseGuid(text);  // lower case, dashes where they belong
  if (!canonical) return std::nullopt;
  Guid out;
  std::size_t nibble = 0;
  for (char c : *canonical) {
    if (c == '-') continue;
    auto& byte = out.bytes_[nibble / 2];
    byte = static_cast<std::uint8_t>(byte << 4 | digitValue(c));
    ++nibble;
  }
  return out;
}

std::string Guid::text() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes_[i] >> 4]);
    out.push_back(kHex[bytes_[i] & 0xF]);
  }
  return out;
}

}  // namespace easgate::powershell::sim
