#include "powershell/exchange/access_decision.h"

#include <algorithm>

#include "common/text/ascii.h"
#include "common/text/case_fold.h"

namespace easgate::powershell::exchange {

std::string_view accessLevelName(AccessLevel level) {
  switch (level) {
    case AccessLevel::kAllow: return "Allow";
    case AccessLevel::kBlock: return "Block";
    case AccessLevel::kQuarantine: return "Quarantine";
  }
  return "Allow";
}

std::optional<AccessLevel> accessLevelNamed(std::string_view name) {
  for (AccessLevel l : {AccessLevel::kAllow, AccessLevel::kBlock, AccessLevel::kQuarantine}) {
    if (text::equalsIgnoreAsciiCase(accessLevelName(l), name)) return l;
  }
  return std::nullopt;
}

std::string_view accessStateOf(AccessLevel level) {
  switch (level) {
    case AccessLevel::kAllow: return "Allowed";
    case AccessLevel::kBlock: return "Blocked";
    case AccessLevel::kQuarantine: return "Quarantined";
  }
  return "Allowed";
}

std::string_view characteristicName(Characteristic c) {
  switch (c) {
    case Characteristic::kUserAgent: return "UserAgent";
    case Characteristic::kDeviceOS: return "DeviceOS";
    case Characteristic::kDeviceModel: return "DeviceModel";
    case Characteristic::kDeviceType: return "DeviceType";
  }
  return "DeviceType";
}

std::optional<Characteristic> characteristicNamed(std::string_view name) {
  for (Characteristic c : kCharacteristicsInOrder) {
    if (text::equalsIgnoreAsciiCase(characteristicName(c), name)) return c;
  }
  return std::nullopt;
}

std::string DeviceAccessRule::name() const {
  return query_string + " (" + std::string(characteristicName(characteristic)) + ")";
}

std::optional<DeviceAccessRule> ruleNamed(std::string_view name) {
  const auto open = name.rfind(" (");
  if (open == std::string_view::npos || open == 0 || name.size() < open + 4 || name.back() != ')') {
    return std::nullopt;
  }
  auto c = characteristicNamed(name.substr(open + 2, name.size() - open - 3));
  if (!c) return std::nullopt;
  return DeviceAccessRule{*c, std::string(name.substr(0, open)), AccessLevel::kAllow};
}

std::optional<std::string> queryStringProblem(std::string_view query_string) {
  if (query_string.empty()) return "a rule needs a query string";
  if (query_string.size() > 1024) return "a query string is at most 1,024 characters";
  const bool only_wildcards = std::all_of(query_string.begin(), query_string.end(), [](char c) {
    return c == '*' || c == '?' || c == '%' || c == ' ';
  });
  if (only_wildcards) {
    return "a query string of wildcards only would name every device or none: Exchange compares "
           "it exactly with what the device reports";
  }
  for (char c : query_string) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return "a query string has no control characters";
    }
  }
  return std::nullopt;
}

bool listHasDeviceId(const std::vector<std::string>& list, std::string_view id) {
  const std::string wanted = text::foldCase(id);
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& x) { return text::foldCase(x) == wanted; });
}

AccessDecision decideAccess(const AccessPolicy& policy, const DeviceFacts& device) {
  if (device.blocked_ids && listHasDeviceId(*device.blocked_ids, device.device_id)) {
    return {"Blocked", "Individual", nullptr};
  }
  if (device.allowed_ids && listHasDeviceId(*device.allowed_ids, device.device_id)) {
    return {"Allowed", "Individual", nullptr};
  }
  for (Characteristic c : kCharacteristicsInOrder) {
    const std::string_view value = c == Characteristic::kUserAgent     ? device.user_agent
                                   : c == Characteristic::kDeviceOS    ? device.device_os
                                   : c == Characteristic::kDeviceModel ? device.device_model
                                                                       : device.device_type;
    for (const auto& rule : policy.rules) {
      if (rule.characteristic == c && rule.query_string == value) {
        return {accessStateOf(rule.level), "DeviceRule", &rule};
      }
    }
  }
  return {accessStateOf(policy.default_level), "Global", nullptr};
}

}  // namespace easgate::powershell::exchange
