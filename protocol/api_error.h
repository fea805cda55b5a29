#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace easgate::protocol {

// A refused or failed request, as the client sees it: the HTTP status and a JSON body
// {"code": ..., "message": ..., "field": ...}. `code` is stable for programs, `message` is for
// people, `field` names the offending part of the request (empty when none).
struct ApiError {
  int status = 400;
  std::string code;
  std::string message;
  std::string field;
};

ApiError badRequest(std::string code, std::string message, std::string field = {});

// The error's JSON body; with "cursor", where a client reads on from, when that is the way out
// (events-forgotten).
std::string encodeError(const ApiError& error, std::optional<std::int64_t> cursor = std::nullopt);

}  // namespace easgate::protocol
