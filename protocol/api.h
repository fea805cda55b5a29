#pragma once

#include <cstdint>
#include <string_view>

namespace easgate::protocol {

// The version prefix of every path of the control protocol.
inline constexpr std::string_view kApiPrefix = "/v1";

// The TCP port the agent listens on unless configured otherwise.
inline constexpr std::uint16_t kDefaultPort = 9090;

}  // namespace easgate::protocol
