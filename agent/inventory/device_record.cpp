#include "agent/inventory/device_record.h"

#include "common/json/json_writer.h"
#include "common/time/utc_time.h"
#include "powershell/clixml/scalars.h"

namespace easgate::agent {

std::string formatTimestamp(Timestamp t) {
  return utc::formatDotNetTicks(t.time_since_epoch().count() + utc::kUnixEpochDotNetTicks);
}

Timestamp timestampFromDotNetTicks(std::int64_t ticks) {
  return Timestamp(Ticks(ticks - utc::kUnixEpochDotNetTicks));
}

const std::vector<DeviceField>& deviceFields() {
  using R = DeviceRecord;
  static const std::vector<DeviceField> kFields = {
      {"mailboxIdentity", &R::mailbox_identity},
      {"mailboxAddress", &R::mailbox_address},
      {"deviceId", &R::device_id},
      {"deviceType", &R::device_type},
      {"deviceModel", &R::device_model},
      {"deviceOs", &R::device_os},
      {"deviceUserAgent", &R::device_user_agent},
      {"friendlyName", &R::friendly_name},
      {"accessState", &R::access_state},
      {"accessStateReason", &R::access_state_reason},
      {"clientType", &R::client_type},
      {"firstSyncTime", nullptr, &R::first_sync_time},
      {"lastSuccessSync", nullptr, &R::last_success_sync},
      {"wipeStatus", &R::wipe_status},
      {"wipeRequestTime", nullptr, &R::wipe_request_time},
      {"wipeSentTime", nullptr, &R::wipe_sent_time},
      {"wipeAckTime", nullptr, &R::wipe_ack_time},
      {"identity", &R::identity},
      {"guid", &R::guid},
  };
  return kFields;
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

void writeDeviceJson(
    std::string& out,
    const std::function<void(std::size_t, const DeviceField&, json::JsonWriter&)>& value,
    std::initializer_list<JsonTime> extra) {
  json::JsonWriter json(out);
  json.beginObject();
  const auto& fields = deviceFields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    json.key(fields[i].name);
    value(i, fields[i], json);
  }
  for (const auto& [name, unix_ms] : extra) {
    json.key(name);
    json.string(utc::formatUnixMs(unix_ms));
  }
  json.endObject();
}

void appendDeviceJson(std::string& out, const DeviceRecord& record,
                      std::initializer_list<JsonTime> extra) {
  writeDeviceJson(
      out,
      [&](std::size_t, const DeviceField& field, json::JsonWriter& json) {
        const std::string text = fieldText(record, field);
        if (text.empty()) {
          json.null();
        } else {
          json.string(text);
        }
      },
      extra);
}

}  // namespace easgate::agent
