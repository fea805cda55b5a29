#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace easgate::agent {

// An instant in UTC with .NET's 100 ns resolution, so Exchange's times keep every digit.
using Ticks = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>;
using Timestamp = std::chrono::time_point<std::chrono::system_clock, Ticks>;

// ISO 8601 in UTC ("2024-03-05T09:14:27.1234567Z"; no fraction when it is zero).
std::string formatTimestamp(Timestamp t);
// The same, appended to `out`.
void appendTimestamp(std::string& out, Timestamp t);
// A Timestamp from .NET ticks counted from 0001-01-01T00:00:00Z.
Timestamp timestampFromDotNetTicks(std::int64_t ticks);

// One ActiveSync partnership (a device on a mailbox) as the agent knows it. Text fields are
// empty when Exchange gave no value.
struct DeviceRecord {
  std::string mailbox_identity;  // the mailbox part of the device's Identity
  std::string mailbox_address;   // the mailbox's primary SMTP address, when known
  std::string device_id;
  std::string device_type;
  std::string device_model;
  std::string device_os;
  std::string device_user_agent;
  std::string friendly_name;
  std::string access_state;         // Allowed, Blocked, Quarantined, DeviceDiscovery, Unknown
  std::string access_state_reason;  // Global, Individual, DeviceRule, Policy, ...
  std::string access_control_rule;  // the device access rule that decided, when one did
  std::string client_type;          // EAS, Outlook, ...
  std::string client_version;       // the ActiveSync protocol version, "16.1"
  std::string user_display_name;
  std::string device_imei;
  std::string device_telephone_number;
  std::string device_mobile_operator;
  std::string device_os_language;
  std::string is_managed;                 // "True" or "False", as Exchange says it
  std::string is_compliant;               // likewise
  std::string policy_application_status;  // AppliedInFull, PartiallyApplied, NotApplied, ...
  std::optional<Timestamp> first_sync_time;
  std::optional<Timestamp> last_success_sync;
  std::optional<Timestamp> last_sync_attempt_time;
  std::optional<Timestamp> last_policy_update_time;
  std::string wipe_status;  // Exchange's DeviceRemoteWipeStatus: an open set of names
  std::optional<Timestamp> wipe_request_time;
  std::optional<Timestamp> wipe_sent_time;
  std::optional<Timestamp> wipe_ack_time;
  std::string identity;  // Exchange's Identity of the partnership
  std::string guid;
};

// A field of a partnership: its name in the API, the store and JSON exports (`name`), and in
// CSV exports (`exchange_name`: the property of Get-MobileDevice or Get-MobileDeviceStatistics
// it comes from, the names administrators' scripts already read; PrimarySmtpAddress is
// Get-CASMailbox's, MailboxIdentity easgate's own). Exactly one of `text` and `time` is set.
struct DeviceField {
  std::string_view name;
  std::string_view exchange_name;
  std::string DeviceRecord::*text = nullptr;
  std::optional<Timestamp> DeviceRecord::*time = nullptr;
};

// Every field, in the stable order of CSV columns and JSON members.
const std::vector<DeviceField>& deviceFields();

// A field by either of its names, in any case (`FriendlyName`, Get-MobileDevice's own name for
// DeviceFriendlyName, too); nullptr when there is none.
const DeviceField* findDeviceField(std::string_view name);

// A partnership's fields as text, by field name (fieldText() of each of deviceFields()): what
// the inventory stores and compares.
using DeviceFieldTexts = std::map<std::string, std::string, std::less<>>;

// A partnership as JSON, the one way the API and the exports write it: every field of
// deviceFields() in order, a string, or null when Exchange gave no value (times as
// common/time/utc_time.h writes them), then `extra` members (name, time in Unix ms).
struct JsonTime {
  std::string_view name;
  std::int64_t unix_ms = 0;
};
void appendDeviceJson(std::string& out, const DeviceRecord& record,
                      std::initializer_list<JsonTime> extra = {});
// The same shape with only `fields`, in their order (an export's --columns).
void appendDeviceJson(std::string& out, const DeviceRecord& record,
                      const std::vector<const DeviceField*>& fields);
// The same shape as the first, for a device read from elsewhere (the inventory's stored form):
// `contents[i]` is field i of deviceFields() as JSON string content, escapes written, as it goes
// between the quotes; empty (or missing) for null. Copied as it is, sized first: a page of 1,000
// devices writes 31,000 of them.
void appendDeviceJson(std::string& out, std::span<const std::string_view> contents,
                      std::initializer_list<JsonTime> extra);

// A field's value as text; empty when there is none.
std::string fieldText(const DeviceRecord& record, const DeviceField& field);
// Sets a field from its text (as fieldText gives it); false when a time does not parse.
bool setFieldText(DeviceRecord& record, const DeviceField& field, std::string_view text);

}  // namespace easgate::agent
