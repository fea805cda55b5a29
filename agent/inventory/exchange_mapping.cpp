#include "agent/inventory/exchange_mapping.h"

#include <algorithm>
#include <optional>

#include "agent/inventory/object_text.h"
#include "powershell/clixml/scalars.h"
#include "protocol/validation.h"

namespace easgate::agent {
namespace {

using powershell::PropertyView;
using powershell::PsObject;
using powershell::PsValue;

// The class name without namespace, "Deserialized." or Select-Object's "Selected." prefix.
std::string_view simpleTypeName(std::string_view full) {
  for (std::string_view prefix : {"Deserialized.", "Selected."}) {
    while (full.substr(0, prefix.size()) == prefix) full.remove_prefix(prefix.size());
  }
  auto dot = full.rfind('.');
  return dot == std::string_view::npos ? full : full.substr(dot + 1);
}

// A time property: a <DT>, or text in DateTime's form (as a re-exported CSV import gives).
std::optional<Timestamp> time(const PropertyView& object, std::string_view property) {
  std::optional<powershell::PsDateTime> dt = object.dateTime(property);
  if (!dt) {
    if (auto display = object.display(property)) dt = powershell::scalars::parseDateTime(*display);
  }
  if (!dt) return std::nullopt;
  return timestampFromDotNetTicks(dt->utcTicks());
}

void fillIfEmpty(std::string& field, const std::string& value) {
  if (field.empty()) field = value;
}

void fillIfEmpty(std::optional<Timestamp>& field, std::optional<Timestamp> value) {
  if (!field) field = value;
}

// A text field both Get-MobileDevice and Get-MobileDeviceStatistics report, by their names.
struct SharedField {
  std::string DeviceRecord::*field;
  const char* device_property;
  const char* statistics_property;
};

constexpr SharedField kSharedFields[] = {
    {&DeviceRecord::device_id, "DeviceId", "DeviceID"},
    {&DeviceRecord::device_type, "DeviceType", "DeviceType"},
    {&DeviceRecord::device_model, "DeviceModel", "DeviceModel"},
    {&DeviceRecord::device_os, "DeviceOS", "DeviceOS"},
    {&DeviceRecord::device_user_agent, "DeviceUserAgent", "DeviceUserAgent"},
    {&DeviceRecord::friendly_name, "FriendlyName", "DeviceFriendlyName"},
    {&DeviceRecord::access_state, "DeviceAccessState", "DeviceAccessState"},
    {&DeviceRecord::access_state_reason, "DeviceAccessStateReason", "DeviceAccessStateReason"},
    {&DeviceRecord::client_type, "ClientType", "ClientType"},
    {&DeviceRecord::client_version, "ClientVersion", "ClientVersion"},
    {&DeviceRecord::access_control_rule, "DeviceAccessControlRule", "DeviceAccessControlRule"},
    {&DeviceRecord::device_imei, "DeviceImei", "DeviceImei"},
    {&DeviceRecord::device_mobile_operator, "DeviceMobileOperator", "DeviceMobileOperator"},
    {&DeviceRecord::device_os_language, "DeviceOSLanguage", "DeviceOSLanguage"},
    {&DeviceRecord::device_telephone_number, "DeviceTelephoneNumber", "DevicePhoneNumber"},
    {&DeviceRecord::identity, "Identity", "Identity"},
    {&DeviceRecord::guid, "Guid", "Guid"},
};

// Copies the shared fields from `object`, read by the names `which` picks: the values given
// replace the record's.
void copyShared(const PropertyView& object, DeviceRecord& record, const char* SharedField::*which) {
  for (const SharedField& f : kSharedFields) {
    std::string value = propertyText(object, f.*which);
    if (f.field == &DeviceRecord::guid) value = lowerAscii(value);
    if (!value.empty()) record.*f.field = std::move(value);
  }
}

}  // namespace

std::string mailboxDnOfDeviceDn(std::string_view dn) {
  static constexpr std::string_view kContainer = ",cn=exchangeactivesyncdevices,";
  std::string low = lowerAscii(dn);
  auto at = low.find(kContainer);
  if (at == std::string::npos) return {};
  return low.substr(at + kContainer.size());
}

void mergeMobileDevice(DeviceRecord& r, const PropertyView& object) {
  // Get-MobileDevice is the authority for what it reports; it overrides statistics.
  copyShared(object, r, &SharedField::device_property);
  if (auto t = time(object, "FirstSyncTime")) r.first_sync_time = t;
  // What only Get-MobileDevice knows.
  r.user_display_name = propertyText(object, "UserDisplayName");
  r.is_managed = propertyText(object, "IsManaged");
  r.is_compliant = propertyText(object, "IsCompliant");
  fillIfEmpty(r.mailbox_identity, std::string(protocol::mailboxOfPartnership(r.identity)));
  if (r.mailbox_identity.empty()) r.mailbox_identity = r.user_display_name;
}

DeviceRecord statisticsRecord(const PropertyView& object) {
  DeviceRecord s;
  copyShared(object, s, &SharedField::statistics_property);
  s.first_sync_time = time(object, "FirstSyncTime");
  s.last_success_sync = time(object, "LastSuccessSync");
  s.last_sync_attempt_time = time(object, "LastSyncAttemptTime");
  s.last_policy_update_time = time(object, "LastPolicyUpdateTime");
  s.policy_application_status = propertyText(object, "DevicePolicyApplicationStatus");
  s.wipe_status = propertyText(object, "Status");
  s.wipe_request_time = time(object, "DeviceWipeRequestTime");
  s.wipe_sent_time = time(object, "DeviceWipeSentTime");
  s.wipe_ack_time = time(object, "DeviceWipeAckTime");
  return s;
}

void mergeStatistics(DeviceRecord& r, const DeviceRecord& s) {
  for (const SharedField& f : kSharedFields) fillIfEmpty(r.*f.field, s.*f.field);
  fillIfEmpty(r.first_sync_time, s.first_sync_time);
  fillIfEmpty(r.mailbox_identity, std::string(protocol::mailboxOfPartnership(r.identity)));
  // What only statistics know.
  r.last_success_sync = s.last_success_sync;
  r.last_sync_attempt_time = s.last_sync_attempt_time;
  r.last_policy_update_time = s.last_policy_update_time;
  r.policy_application_status = s.policy_application_status;
  r.wipe_status = s.wipe_status;
  r.wipe_request_time = s.wipe_request_time;
  r.wipe_sent_time = s.wipe_sent_time;
  r.wipe_ack_time = s.wipe_ack_time;
}

void mergeStatistics(DeviceRecord& r, const PropertyView& object) {
  mergeStatistics(r, statisticsRecord(object));
}

void mergeMobileDevice(DeviceRecord& record, const PsObject& device) {
  mergeMobileDevice(record, powershell::PsObjectView(device));
}

void mergeStatistics(DeviceRecord& record, const PsObject& statistics) {
  mergeStatistics(record, powershell::PsObjectView(statistics));
}

namespace {

// Type families by simple name, as Exchange versions and Exchange Online name them.
std::optional<ExchangeObjectKind> kindOfTypeName(std::string_view name) {
  if (name == "MobileDevice" || name == "ActiveSyncDevice")
    return ExchangeObjectKind::kMobileDevice;
  if (name == "MobileDeviceStatistics" || name == "ActiveSyncDeviceStatistics" ||
      name == "MobileDeviceConfiguration" || name == "ActiveSyncDeviceConfiguration") {
    return ExchangeObjectKind::kMobileDeviceStatistics;
  }
  if (name == "CASMailbox" || name == "CasMailbox") return ExchangeObjectKind::kCasMailbox;
  return std::nullopt;
}

// By the properties only one of them has.
ExchangeObjectKind kindOfShape(const PsObject& object) {
  auto has = [&](std::string_view p) { return object.property(p) != nullptr; };
  if (has("ActiveSyncAllowedDeviceIDs") || has("ActiveSyncBlockedDeviceIDs") ||
      has("HasActiveSyncDevicePartnership")) {
    return ExchangeObjectKind::kCasMailbox;
  }
  const bool device_id = has("DeviceId");
  if (device_id && (has("LastSuccessSync") || has("LastSyncAttemptTime") ||
                    has("DeviceWipeSentTime") || has("LastPolicyUpdateTime"))) {
    return ExchangeObjectKind::kMobileDeviceStatistics;
  }
  if (device_id && has("Identity") && (has("DeviceAccessState") || has("FirstSyncTime"))) {
    return ExchangeObjectKind::kMobileDevice;
  }
  return ExchangeObjectKind::kOther;
}

}  // namespace

ExchangeObjectKind classifyExchangeObject(const PsObject& object) {
  if (object.type_names) {
    for (const auto& full : *object.type_names) {
      if (auto kind = kindOfTypeName(simpleTypeName(full))) return *kind;
    }
  }
  return kindOfShape(object);
}

void InventoryBuilder::reserve(std::size_t partnerships) {
  records_.reserve(partnerships);
  by_identity_.reserve(partnerships);
  by_guid_.reserve(partnerships);
}

void InventoryBuilder::add(const PsValue& value, std::optional<ExchangeObjectKind> origin) {
  const PsObject* object = value.asObject();
  if (!object) {
    ++counts_.ignored;
    return;
  }
  if (object->container == powershell::PsContainer::kList ||
      object->container == powershell::PsContainer::kEnumerable) {
    for (const auto& item : object->items) add(item, origin);
    return;
  }
  if (origin) {
    addObject(*object, *origin);
    return;
  }
  ExchangeObjectKind kind = classifyExchangeObject(*object);
  if (kind != ExchangeObjectKind::kOther) {
    bool named = false;
    if (object->type_names) {
      for (const auto& full : *object->type_names)
        named |= kindOfTypeName(simpleTypeName(full)).has_value();
    }
    if (!named) ++counts_.by_shape;
  }
  addObject(*object, kind);
}

DeviceRecord& InventoryBuilder::recordFor(const PsObject& object) {
  std::string identity = lowerAscii(propertyText(object, "Identity"));
  std::string guid = lowerAscii(propertyText(object, "Guid"));
  auto known = [&](const auto& index, const std::string& key) -> std::optional<std::size_t> {
    if (key.empty()) return std::nullopt;
    auto it = index.find(key);
    return it == index.end() ? std::nullopt : std::optional<std::size_t>(it->second);
  };
  std::optional<std::size_t> at = known(by_identity_, identity);
  if (!at) at = known(by_guid_, guid);
  if (!at) {
    at = records_.size();
    records_.emplace_back();
  }
  if (!identity.empty()) by_identity_.emplace(identity, *at);
  if (!guid.empty()) by_guid_.emplace(guid, *at);
  return records_[*at];
}

void InventoryBuilder::addObject(const PsObject& object, ExchangeObjectKind kind) {
  switch (kind) {
    case ExchangeObjectKind::kMobileDevice: {
      ++counts_.devices;
      DeviceRecord& r = recordFor(object);
      mergeMobileDevice(r, object);
      std::string dn = mailboxDnOfDeviceDn(propertyText(object, "DistinguishedName"));
      if (!dn.empty()) dn_of_record_[static_cast<std::size_t>(&r - records_.data())] = dn;
      break;
    }
    case ExchangeObjectKind::kMobileDeviceStatistics: {
      ++counts_.statistics;
      mergeStatistics(recordFor(object), object);
      break;
    }
    case ExchangeObjectKind::kCasMailbox: {
      ++counts_.mailboxes;
      std::string address = propertyText(object, "PrimarySmtpAddress");
      if (address.empty()) break;
      for (std::string_view key : {"Identity", "DistinguishedName", "Name", "SamAccountName"}) {
        std::string k = lowerAscii(propertyText(object, key));
        if (!k.empty()) address_by_mailbox_.emplace(std::move(k), address);
      }
      break;
    }
    case ExchangeObjectKind::kOther: ++counts_.ignored; break;
  }
}

std::vector<DeviceRecord> InventoryBuilder::finish() && {
  if (!address_by_mailbox_.empty()) {
    for (std::size_t i = 0; i < records_.size(); ++i) {
      DeviceRecord& r = records_[i];
      if (!r.mailbox_address.empty()) continue;
      auto it = address_by_mailbox_.find(lowerAscii(r.mailbox_identity));
      if (it == address_by_mailbox_.end()) {
        auto dn = dn_of_record_.find(i);
        if (dn != dn_of_record_.end()) it = address_by_mailbox_.find(dn->second);
      }
      if (it != address_by_mailbox_.end()) r.mailbox_address = it->second;
    }
  }
  return std::move(records_);
}

}  // namespace easgate::agent
