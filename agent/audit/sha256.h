#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace easgate::agent {

using Sha256 = std::array<std::uint8_t, 32>;

// SHA-256 of `bytes` (OpenSSL).
Sha256 sha256(std::string_view bytes);
std::string toHex(const Sha256& digest);
// 64 hex digits (either case) back into a digest; nullopt for anything else.
std::optional<Sha256> sha256FromHex(std::string_view hex);

}  // namespace easgate::agent
