#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/json_writer.h"
#include "powershell/clixml/ps_value.h"
#include "powershell/exchange/access_decision.h"

// The organisation's ActiveSync policy as the agent knows it: DefaultAccessLevel,
// AdminMailRecipients, UserMailInsert (Get-ActiveSyncOrganizationSettings) and the device access
// rules (Get-ActiveSyncDeviceAccessRule). A full harvest reads it; the inventory keeps it as
// the JSON document below; GET /v1/policy serves it and the planner decides with it.
namespace easgate::agent::policy {

struct OrganisationPolicy {
  powershell::exchange::AccessPolicy access;
  std::vector<std::string> admin_mail_recipients;
  std::string user_mail_insert;
  // Rules Exchange has that the agent cannot evaluate (an XMSWLHeader rule, an access level it
  // does not know): by name. A plan says its predictions may miss the devices they match.
  std::vector<std::string> unmodelled_rules;
};

// Reads Exchange's objects: the settings object and each rule object.
OrganisationPolicy policyFromExchange(const powershell::PsObject& settings,
                                      const std::vector<powershell::PsObject>& rules);

// The document: {"defaultAccessLevel", "adminMailRecipients", "userMailInsert", "rules":
// [{"name", "queryString", "characteristic", "accessLevel"}], "unmodelledRules"} — also the
// members GET /v1/policy answers with.
void writePolicyJson(std::string& out, const OrganisationPolicy& policy);
// The rules alone, as an array: what GET /v1/policy/rules answers.
void writeRules(json::JsonWriter& w,
                const std::vector<powershell::exchange::DeviceAccessRule>& rules);
std::string policyJson(const OrganisationPolicy& policy);
std::optional<OrganisationPolicy> policyFromJson(std::string_view document);

}  // namespace easgate::agent::policy
