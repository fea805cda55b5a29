#pragma once

#include <string_view>

namespace easgate::protocol {

// protocol/openapi.json, the contract of the /v1 protocol, as compiled into the binary.
std::string_view openApiDocument();

}  // namespace easgate::protocol
