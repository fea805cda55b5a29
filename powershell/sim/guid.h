#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace easgate::powershell::sim {

// A GUID as its 16 bytes: an organisation holds three for each mailbox and partnership, and as
// text each took 80 bytes (the string and its heap block) where this takes 16. Read in any case
// by CLIXML's rule (scalars::parseGuid) and written as Exchange's objects carry it: 8-4-4-4-12
// hexadecimal digits, lower case.
class Guid {
 public:
  // The nil GUID (all zeros): an object given none.
  Guid() = default;
  // A GUID known to be well formed (a constant, a test's): throws std::invalid_argument when not.
  explicit Guid(std::string_view text);

  // Empty when `text` is not a GUID.
  static std::optional<Guid> parse(std::string_view text);

  bool isNil() const { return bytes_ == std::array<std::uint8_t, 16>{}; }
  std::string text() const;

  friend bool operator==(const Guid&, const Guid&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // in the order of the text's digits
};

}  // namespace easgate::powershell::sim
