#include "powershell/bridge/bridge_error.h"

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "common/text/name_table.h"

namespace easgate::powershell {
namespace {

constexpr Named<BridgeErrc> kNames[] = {
    {BridgeErrc::kThrottled, "throttled"},
    {BridgeErrc::kSessionLimit, "session-limit"},
    {BridgeErrc::kNotFound, "not-found"},
    {BridgeErrc::kAmbiguous, "ambiguous"},
    {BridgeErrc::kDeviceIdInBothLists, "device-id-in-both-lists"},
    {BridgeErrc::kTransient, "transient"},
    {BridgeErrc::kInvalidArgument, "invalid-argument"},
    {BridgeErrc::kOther, "other"},
    {BridgeErrc::kBridgeFailed, "bridge-failed"},
    {BridgeErrc::kTimeout, "timeout"}};

}  // namespace

std::string_view categoryName(BridgeErrc code) { return nameOf(kNames, code, "other"); }

std::optional<BridgeErrc> categoryFromName(std::string_view name) {
  return valueNamed(kNames, name);
}

std::string encodeErrorPayload(const BridgeError& error) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("category");
  w.string(categoryName(error.code));
  w.key("message");
  w.string(error.message);
  w.key("exception");
  w.string(error.exception_type);
  w.key("retryAfterMs");
  w.number(error.retry_after_ms);
  w.endObject();
  return out;
}

BridgeError decodeErrorPayload(std::string_view payload) {
  BridgeError error;
  auto doc = json::parseJson(payload);
  if (!doc) {
    error.message = "unreadable error from the bridge: " + std::string(payload.substr(0, 200));
    return error;
  }
  auto text = [&](std::string_view key) {
    const json::JsonValue* v = doc->find(key);
    return v && v->asString() ? *v->asString() : std::string();
  };
  error.code = categoryFromName(text("category")).value_or(BridgeErrc::kOther);
  error.message = text("message");
  error.exception_type = text("exception");
  if (const json::JsonValue* v = doc->find("retryAfterMs"); v && v->asInt())
    error.retry_after_ms = *v->asInt();
  return error;
}

}  // namespace easgate::powershell
