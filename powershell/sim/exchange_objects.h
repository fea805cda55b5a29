#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "powershell/clixml/ps_value.h"
#include "powershell/sim/guid.h"
#include "powershell/sim/shared_text.h"

// Exchange's objects as a remote Exchange session serializes them (type names, property
// names, value types; enums and identities as <S>), built from plain facts. The simulator
// answers cmdlets with these; benchmarks and tests use them as realistic input.
namespace easgate::powershell::sim {

// What is known of one ActiveSync partnership. Times are .NET ticks (UTC); 0 means none. What
// many partnerships share is SharedText, kept once.
struct PartnershipFacts {
  SharedText mailbox_identity;  // "contoso.com/Users/Tony Smith"
  SharedText mailbox_name;      // "Tony Smith" (the mailbox's CN)
  std::string device_id;
  SharedText device_type;
  SharedText device_model;
  SharedText device_os;
  SharedText device_os_language = "en-us";
  SharedText device_user_agent;
  std::string device_imei;
  SharedText mobile_operator;
  SharedText friendly_name;  // "Tony's iPhone15C2": as many as first names and models
  SharedText client_type = "EAS";
  SharedText client_version = "16.1";
  SharedText access_state = "Allowed";
  SharedText access_state_reason = "Global";
  Guid guid;
  std::int64_t first_sync_ticks = 0;
  std::int64_t when_changed_ticks = 0;
  std::int64_t last_success_sync_ticks = 0;
  std::int64_t wipe_request_ticks = 0;
  std::int64_t wipe_sent_ticks = 0;
  std::int64_t wipe_ack_ticks = 0;
  SharedText wipe_status = "DeviceOk";
  bool wipe_account_only = false;  // the wipe times are the AccountOnly* ones
  std::int64_t wipe_requests = 0;  // Clear-MobileDevice calls that issued a wipe (not in CLIXML)
  bool remote_wipe_supported = true;
};

struct MailboxFacts {
  SharedText identity;  // "contoso.com/Users/Tony Smith" (shared with its partnerships)
  SharedText name;
  std::string sam_account_name;
  Guid guid;           // the AD object's Guid: every mailbox has one
  Guid exchange_guid;  // the mailbox's ExchangeGuid
  std::vector<std::string> allowed_device_ids;
  std::vector<std::string> blocked_device_ids;
  bool active_sync_enabled = true;
  bool has_partnership = false;

  // Its alias and addresses, kept together in one string: as strings of their own they took more
  // than half of a generated mailbox's memory. None may hold a NUL (std::invalid_argument).
  std::string alias() const;              // "tony.smith"; like SamAccountName when empty
  std::string userPrincipalName() const;  // "tony.smith@contoso.com"; not on CASMailbox objects
  std::string primarySmtpAddress() const;
  std::vector<std::string> proxyAddresses() const;  // more smtp addresses (EmailAddresses' smtp:)
  void setAlias(std::string_view value);
  void setUserPrincipalName(std::string_view value);
  void setPrimarySmtpAddress(std::string_view value);
  void setProxyAddresses(const std::vector<std::string>& values);

 private:
  enum Part : std::size_t { kAlias, kUserPrincipalName, kPrimarySmtpAddress, kProxies };
  std::string_view part(std::size_t index) const;
  void setParts(std::size_t first, std::size_t count, const std::vector<std::string_view>& values);
  // The alias, UPN, primary SMTP address, then each proxy address, each ended by a NUL.
  std::string addresses_ = std::string(3, '\0');
};

// "<mailbox>/ExchangeActiveSyncDevices/<type>§<id>", the Identity Exchange gives a partnership.
std::string partnershipIdentity(const PartnershipFacts& facts);

PsValue mobileDevice(const PartnershipFacts& facts);
// Get-MobileDeviceStatistics' output. Exchange versions type it differently (see EXCHANGE.md):
// `type_name` is the full name without "Deserialized.".
PsValue mobileDeviceStatistics(const PartnershipFacts& facts, const std::string& type_name);
// The type names Exchange versions give statistics objects.
inline constexpr const char* kStatisticsTypeNames[] = {
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDeviceConfiguration",
    "Microsoft.Exchange.Data.Mapi.MobileDeviceStatistics",
    "Microsoft.Exchange.Management.Tasks.ActiveSyncDeviceStatistics",
};
// The mailbox's DistinguishedName.
std::string distinguishedName(const MailboxFacts& facts);
PsValue casMailbox(const MailboxFacts& facts);
// Get-ActiveSyncOrganizationSettings: DefaultAccessLevel (Allow, Block or Quarantine),
// AdminMailRecipients and UserMailInsert.
PsValue organizationSettings(const std::string& default_access_level,
                             const std::vector<std::string>& admin_mail_recipients,
                             const std::string& user_mail_insert);
// Get-ActiveSyncDeviceAccessRule's objects: Name and Identity "<QueryString> (<Characteristic>)".
PsValue deviceAccessRule(const std::string& query_string, const std::string& characteristic,
                         const std::string& access_level);

}  // namespace easgate::powershell::sim
