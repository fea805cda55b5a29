#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Exchange's Allow / Block / Quarantine (ABQ) decision for an ActiveSync device: the one
// implementation that the simulator plays and the agent's policy planner predicts with
// (EXCHANGE.md, "Allow / Block / Quarantine (ABQ) evaluation").
namespace easgate::powershell::exchange {

// DeviceAccessLevel: what a rule or the organisation's default gives.
enum class AccessLevel { kAllow, kBlock, kQuarantine };
std::string_view accessLevelName(AccessLevel level);  // Allow, Block, Quarantine
// Exchange takes enum values in any case; an unknown name is nullopt.
std::optional<AccessLevel> accessLevelNamed(std::string_view name);
// The DeviceAccessState a level puts a device in: Allowed, Blocked, Quarantined.
std::string_view accessStateOf(AccessLevel level);

// DeviceAccessCharacteristic, in the order rules are tried: a UserAgent rule decides before a
// DeviceOS rule, and so on.
enum class Characteristic { kUserAgent, kDeviceOS, kDeviceModel, kDeviceType };
inline constexpr Characteristic kCharacteristicsInOrder[] = {
    Characteristic::kUserAgent, Characteristic::kDeviceOS, Characteristic::kDeviceModel,
    Characteristic::kDeviceType};
std::string_view characteristicName(Characteristic c);  // UserAgent, DeviceOS, ...
std::optional<Characteristic> characteristicNamed(std::string_view name);  // any case

// An ActiveSyncDeviceAccessRule: devices whose characteristic equals the query string get the
// rule's level.
struct DeviceAccessRule {
  Characteristic characteristic = Characteristic::kDeviceType;
  std::string query_string;
  AccessLevel level = AccessLevel::kAllow;

  // The rule's Name and Identity as New-ActiveSyncDeviceAccessRule makes it:
  // "<QueryString> (<Characteristic>)".
  std::string name() const;
  bool operator==(const DeviceAccessRule&) const = default;
};

// A rule's name read back: "<QueryString> (<Characteristic>)" gives the query string and the
// characteristic (the level is not in the name: kAllow); nullopt for any other text.
std::optional<DeviceAccessRule> ruleNamed(std::string_view name);

// Why a query string cannot make a rule: empty, or only wildcards (which would match nothing
// Exchange compares exactly, or everything an administrator did not mean). nullopt when it can.
std::optional<std::string> queryStringProblem(std::string_view query_string);

// The organisation's side of the decision.
struct AccessPolicy {
  AccessLevel default_level = AccessLevel::kAllow;
  std::vector<DeviceAccessRule> rules;
};

// The device's side: what it reports of itself, and its mailbox's lists.
// Views of the device being decided, for the length of the call.
struct DeviceFacts {
  std::string_view device_id;
  std::string_view user_agent;
  std::string_view device_os;
  std::string_view device_model;
  std::string_view device_type;
  const std::vector<std::string>* allowed_ids = nullptr;  // the mailbox's lists (may be null)
  const std::vector<std::string>* blocked_ids = nullptr;
};

struct AccessDecision {
  std::string_view state;   // DeviceAccessState: Allowed, Blocked, Quarantined
  std::string_view reason;  // DeviceAccessStateReason: Individual, DeviceRule, Global
  const DeviceAccessRule* rule = nullptr;  // the rule that decided, for DeviceRule
};

// In Exchange's order: the mailbox's blocked list (Blocked, Individual); the allowed list
// (Allowed, Individual); the first rule matching by UserAgent, DeviceOS, DeviceModel, then
// DeviceType (the rule's level, DeviceRule); the default (Global). Device IDs compare without
// regard to case; query strings exactly. Automatic blocking (thresholds) is not modelled.
AccessDecision decideAccess(const AccessPolicy& policy, const DeviceFacts& device);

// Whether `id` is on `list`, as Exchange compares device IDs (without regard to case).
bool listHasDeviceId(const std::vector<std::string>& list, std::string_view id);

}  // namespace easgate::powershell::exchange
