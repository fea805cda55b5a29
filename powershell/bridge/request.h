#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace easgate::powershell {

// Edits of a multi-valued list, as -ActiveSyncAllowedDeviceIDs @{Add=...; Remove=...} does.
struct ListEdit {
  std::vector<std::string> add;
  std::vector<std::string> remove;
  bool operator==(const ListEdit&) const = default;
};

// Null clears a value; a list replaces a list; a ListEdit edits one; bool is a switch.
using ParameterValue = std::variant<std::nullptr_t, std::string, std::int64_t, bool,
                                    std::vector<std::string>, ListEdit>;

// One allowlisted cmdlet with its parameters: data for the bridge, never script text.
struct BridgeRequest {
  std::string cmdlet;
  std::vector<std::pair<std::string, ParameterValue>> parameters;

  BridgeRequest& with(std::string name, ParameterValue value) {
    parameters.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  const ParameterValue* parameter(std::string_view name) const;
};

enum class RequestErrc { kMalformed, kNotAllowed, kInvalidParameter };
using RequestError = Error<RequestErrc>;

// Checks a request against powershell/bridge/cmdlets.json: an allowlisted cmdlet, only its
// parameters, each of its kind (an identity is never empty), required ones present.
Result<void, RequestError> validateRequest(const BridgeRequest& request);

// The request as the JSON line the bridge reads: {"id":N,"cmdlet":...,"parameters":{...}}.
std::string encodeRequestLine(std::uint64_t id, const BridgeRequest& request);

struct DecodedRequest {
  std::uint64_t id = 0;
  BridgeRequest request;
};

// Reads a request line (what the simulator does); validation is separate.
Result<DecodedRequest, RequestError> decodeRequestLine(std::string_view line);

// The allowlisted cmdlet names, in the file's order.
const std::vector<std::string>& allowedCmdlets();

}  // namespace easgate::powershell
