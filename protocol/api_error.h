#pragma once

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

// The error's JSON body.
std::string encodeError(const ApiError& error);

}  // namespace easgate::protocol
