#include "protocol/api_error.h"

#include "common/json/json_writer.h"

namespace easgate::protocol {

ApiError badRequest(std::string code, std::string message, std::string field) {
  return ApiError{400, std::move(code), std::move(message), std::move(field)};
}

std::string encodeError(const ApiError& error, std::optional<std::int64_t> cursor) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("code");
  w.string(error.code);
  w.key("message");
  w.string(error.message);
  // Always there, so a client can rely on it: null when no one field is at fault.
  w.key("field");
  if (error.field.empty()) {
    w.null();
  } else {
    w.string(error.field);
  }
  if (cursor) {
    w.key("cursor");
    w.number(*cursor);
  }
  w.endObject();
  return out;
}

}  // namespace easgate::protocol
