#include "powershell/sim/guid.h"

#include <stdexcept>

#include "common/text/hex.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell::sim {
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
    byte = static_cast<std::uint8_t>(byte << 4 | text::hexValue(c));
    ++nibble;
  }
  return out;
}

std::string Guid::text() const {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    text::appendHexByte(out, bytes_[i]);
  }
  return out;
}

}  // namespace easgate::powershell::sim
