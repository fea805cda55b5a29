#include "agent/inventory/device_record.h"

#include "powershell/clixml/scalars.h"

namespace easgate::agent {
namespace {

// .NET ticks at 1970-01-01T00:00:00Z, the system clock's epoch.
constexpr std::int64_t kUnixEpochDotNetTicks = 621'355'968'000'000'000;

}  // namespace

std::string formatTimestamp(Timestamp t) {
  return powershell::scalars::formatUtcTimestamp(t.time_since_epoch().count() +
                                                 kUnixEpochDotNetTicks);
}

Timestamp timestampFromDotNetTicks(std::int64_t ticks) {
  return Timestamp(Ticks(ticks - kUnixEpochDotNetTicks));
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

}  // namespace easgate::agent
