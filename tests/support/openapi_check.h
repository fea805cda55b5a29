#pragma once

#include <string>
#include <string_view>

namespace easgate::testing {

// Checks an answer of the agent against protocol/openapi.json: the operation for `method` and
// `path` (a concrete path, no query) must exist, must document `status`, and for JSON bodies
// the body must fit the schema (types, required and unknown members, enums, items, oneOf,
// minimum, maxItems). Returns what does not fit, or an empty string.
std::string openApiViolation(std::string_view method, std::string_view path, int status,
                             std::string_view body);

}  // namespace easgate::testing
