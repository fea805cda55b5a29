#include "agent/inventory/device_record.h"

#include <cstring>

#include "common/json/json_writer.h"
#include "common/text/ascii.h"
#include "common/time/utc_time.h"
#include "powershell/clixml/scalars.h"

namespace easgate::agent {

std::string formatTimestamp(Timestamp t) {
  std::string out;
  appendTimestamp(out, t);
  return out;
}

void appendTimestamp(std::string& out, Timestamp t) {
  utc::appendDotNetTicks(out, t.time_since_epoch().count() + utc::kUnixEpochDotNetTicks);
}

Timestamp timestampFromDotNetTicks(std::int64_t ticks) {
  return Timestamp(Ticks(ticks - utc::kUnixEpochDotNetTicks));
}

const std::vector<DeviceField>& deviceFields() {
  using R = DeviceRecord;
  static const std::vector<DeviceField> kFields = {
      {"mailboxIdentity", "MailboxIdentity", &R::mailbox_identity},
      {"mailboxAddress", "PrimarySmtpAddress", &R::mailbox_address},
      {"deviceId", "DeviceId", &R::device_id},
      {"deviceType", "DeviceType", &R::device_type},
      {"deviceModel", "DeviceModel", &R::device_model},
      {"deviceOs", "DeviceOS", &R::device_os},
      {"deviceUserAgent", "DeviceUserAgent", &R::device_user_agent},
      {"friendlyName", "DeviceFriendlyName", &R::friendly_name},
      {"accessState", "DeviceAccessState", &R::access_state},
      {"accessStateReason", "DeviceAccessStateReason", &R::access_state_reason},
      {"clientType", "ClientType", &R::client_type},
      {"firstSyncTime", "FirstSyncTime", nullptr, &R::first_sync_time},
      {"lastSuccessSync", "LastSuccessSync", nullptr, &R::last_success_sync},
      {"wipeStatus", "Status", &R::wipe_status},
      {"wipeRequestTime", "DeviceWipeRequestTime", nullptr, &R::wipe_request_time},
      {"wipeSentTime", "DeviceWipeSentTime", nullptr, &R::wipe_sent_time},
      {"wipeAckTime", "DeviceWipeAckTime", nullptr, &R::wipe_ack_time},
      {"identity", "Identity", &R::identity},
      {"guid", "Guid", &R::guid},
      // Added after 0.1.0: after the fields above, so a consumer reading columns by position reads
      // what it did.
      {"accessControlRule", "DeviceAccessControlRule", &R::access_control_rule},
      {"clientVersion", "ClientVersion", &R::client_version},
      {"userDisplayName", "UserDisplayName", &R::user_display_name},
      {"deviceImei", "DeviceImei", &R::device_imei},
      {"deviceTelephoneNumber", "DeviceTelephoneNumber", &R::device_telephone_number},
      {"deviceMobileOperator", "DeviceMobileOperator", &R::device_mobile_operator},
      {"deviceOsLanguage", "DeviceOSLanguage", &R::device_os_language},
      {"isManaged", "IsManaged", &R::is_managed},
      {"isCompliant", "IsCompliant", &R::is_compliant},
      {"lastSyncAttemptTime", "LastSyncAttemptTime", nullptr, &R::last_sync_attempt_time},
      {"lastPolicyUpdateTime", "LastPolicyUpdateTime", nullptr, &R::last_policy_update_time},
      {"policyApplicationStatus", "DevicePolicyApplicationStatus", &R::policy_application_status},
  };
  return kFields;
}

const DeviceField* findDeviceField(std::string_view name) {
  if (text::equalsIgnoreAsciiCase(name, "FriendlyName")) name = "DeviceFriendlyName";
  for (const auto& f : deviceFields()) {
    if (text::equalsIgnoreAsciiCase(f.name, name) ||
        text::equalsIgnoreAsciiCase(f.exchange_name, name)) {
      return &f;
    }
  }
  return nullptr;
}

std::string fieldText(const DeviceRecord& record, const DeviceField& field) {
  if (field.text) return record.*field.text;
  const auto& time = record.*field.time;
  return time ? formatTimestamp(*time) : std::string();
}

bool setFieldText(DeviceRecord& record, const DeviceField& field, std::string_view text) {
  if (field.text) {
    record.*field.text = std::string(text);
    return true;
  }
  if (text.empty()) {
    record.*field.time = std::nullopt;
    return true;
  }
  auto parsed = powershell::scalars::parseDateTime(text);
  if (!parsed) return false;
  record.*field.time = timestampFromDotNetTicks(parsed->utcTicks());
  return true;
}

namespace {

// What goes before each field's value, in deviceFields() order: `{"mailboxIdentity":` for the
// first, `,"mailboxAddress":` and so on after it.
const std::vector<std::string>& deviceJsonKeys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const DeviceField& field : deviceFields()) {
      std::string key(keys.empty() ? "{" : ",");
      json::appendString(key, field.name);
      key += ':';
      keys.push_back(std::move(key));
    }
    return keys;
  }();
  return kKeys;
}

// The `extra` members (name, time in Unix ms), then the closing brace.
void endDeviceJson(std::string& out, std::initializer_list<JsonTime> extra) {
  for (const auto& [name, unix_ms] : extra) {
    out += ',';
    json::appendString(out, name);
    out += ":\"";
    utc::appendUnixMs(out, unix_ms);
    out += '"';
  }
  out += '}';
}

// A field's value: a string, or null when Exchange gave none.
void appendFieldValue(std::string& out, const DeviceRecord& record, const DeviceField& field) {
  if (field.text) {
    const std::string& text = record.*field.text;
    if (text.empty()) {
      out += "null";
    } else {
      json::appendString(out, text);
    }
    return;
  }
  const auto& time = record.*field.time;
  if (!time) {
    out += "null";
    return;
  }
  out += '"';
  appendTimestamp(out, *time);
  out += '"';
}

}  // namespace

void appendDeviceJson(std::string& out, const DeviceRecord& record,
                      std::initializer_list<JsonTime> extra) {
  const auto& fields = deviceFields();
  const std::vector<std::string>& keys = deviceJsonKeys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out += keys[i];
    appendFieldValue(out, record, fields[i]);
  }
  endDeviceJson(out, extra);
}

void appendDeviceJson(std::string& out, std::span<const std::string_view> contents,
                      std::initializer_list<JsonTime> extra) {
  const std::vector<std::string>& keys = deviceJsonKeys();
  auto content = [&](std::size_t i) { return i < contents.size() ? contents[i] : ""; };
  std::size_t size = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    size += keys[i].size() + (content(i).empty() ? 4 : content(i).size() + 2);
  }
  const std::size_t start = out.size();
  out.resize(start + size);
  char* at = out.data() + start;
  auto copy = [&at](std::string_view text) {
    std::memcpy(at, text.data(), text.size());
    at += text.size();
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    copy(keys[i]);
    if (content(i).empty()) {
      copy("null");
    } else {
      *at++ = '"';
      copy(content(i));
      *at++ = '"';
    }
  }
  endDeviceJson(out, extra);
}

void appendDeviceJson(std::string& out, const DeviceRecord& record,
                      const std::vector<const DeviceField*>& fields) {
  out += '{';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    json::appendString(out, fields[i]->name);
    out += ':';
    appendFieldValue(out, record, *fields[i]);
  }
  out += '}';
}

}  // namespace easgate::agent
