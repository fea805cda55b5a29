#include "agent/api/api_json.h"

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "common/time/utc_time.h"
#include "protocol/requests.h"

namespace easgate::agent::api {

transport::HttpResponse jsonResponse(int status, std::string body) {
  transport::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

transport::HttpResponse errorResponse(const protocol::ApiError& error) {
  return jsonResponse(error.status, protocol::encodeError(error));
}

transport::HttpResponse storeFailure(const store::StoreError& error) {
  if (error.code == store::StoreErrc::kBusy) {
    auto r = errorResponse({503, "store-busy", "the agent's store is busy; try again", ""});
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return errorResponse({500, "store", "the agent's store failed: " + error.message, ""});
}

std::string commandJson(const CommandRecord& c) {
  std::string out;
  json::JsonWriter w(out);
  auto text = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    w.key(name);
    w.string(value);
  };
  auto time = [&](const char* name, std::int64_t ms) {
    w.key(name);
    w.string(utc::formatUnixMs(ms));
  };
  w.beginObject();
  w.key("id");
  w.number(c.id);
  w.key("kind");
  w.string(commandKindName(c.request.kind));
  w.key("state");
  w.string(commandStateName(c.state));
  w.key("mailbox");
  w.string(c.request.mailbox);
  text("deviceId", c.request.device_id);
  if (c.request.kind == CommandKind::kSetAllowed || c.request.kind == CommandKind::kSetBlocked) {
    w.key("deviceIds");
    w.beginArray();
    for (const auto& id : c.request.device_ids) w.string(id);
    w.endArray();
  }
  text("partnership", c.request.partnership);
  text("accessLevel", c.request.access_level);
  text("queryString", c.request.rule_query);
  text("characteristic", c.request.rule_characteristic);
  if (c.request.kind == CommandKind::kSetAdminMailRecipients) {
    w.key("adminMailRecipients");
    w.beginArray();
    for (const auto& a : c.request.recipients) w.string(a);
    w.endArray();
  }
  if (c.request.after) {
    w.key("after");
    w.raw(commandRangeJson(*c.request.after));
  }
  w.key("attempts");
  w.number(c.attempts);
  w.key("requestedBy");
  w.string(c.request.requested_by);
  time("createdAt", c.created_ms);
  time("updatedAt", c.updated_ms);
  if (c.state == CommandState::kQueued || c.state == CommandState::kRetrying) {
    time("nextAttemptAt", c.next_attempt_ms);
  }
  time("deadline", c.deadline_ms);
  text("lastError", c.last_error);
  text("result", c.result);
  w.endObject();
  return out;
}

std::string deviceJson(const StoredDevice& device) {
  std::string out;
  appendStoredDeviceJson(out, device.view());
  return out;
}

std::string eventJson(const InventoryEvent& e) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("sequence");
  w.number(e.sequence);
  w.key("at");
  w.string(utc::formatUnixMs(e.at_ms));
  w.key("kind");
  w.string(e.kind);
  w.key("mailbox");
  w.string(e.mailbox);
  w.key("deviceKey");
  w.string(e.device_key);
  w.key("detail");
  w.raw(e.detail.empty() ? "{}" : e.detail);  // stored as JSON by the harvester
  w.endObject();
  return out;
}

std::string auditPageJson(const std::vector<AuditEntry>& entries, std::size_t limit) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("entries");
  w.beginArray();
  for (const AuditEntry& e : entries) {
    const AuditRecord& r = e.record;
    w.beginObject();
    w.key("sequence");
    w.number(e.sequence);
    w.key("at");
    w.string(utc::formatUnixMs(r.at_ms));
    w.key("actor");
    w.string(r.actor);
    w.key("action");
    w.string(r.action);
    w.key("target");
    w.string(r.target);
    w.key("outcome");
    w.string(r.outcome);
    // The agent wrote the detail as a JSON object; the command it is about is lifted out.
    auto detail = json::parseJson(r.detail, 16);
    const bool object = detail && detail->isObject();
    const json::JsonValue* command = object ? detail->find("command") : nullptr;
    w.key("command");
    if (command && command->asInt()) {
      w.number(*command->asInt());
    } else {
      w.null();
    }
    w.key("detail");
    if (object) {
      w.raw(r.detail);
    } else {
      w.null();
    }
    w.key("hash");
    w.string(toHex(e.hash));
    w.endObject();
  }
  w.endArray();
  w.key("nextBefore");
  if (!entries.empty() && entries.size() == limit && entries.back().sequence > 1) {
    w.number(entries.back().sequence);
  } else {
    w.null();
  }
  w.endObject();
  return out;
}

}  // namespace easgate::agent::api
