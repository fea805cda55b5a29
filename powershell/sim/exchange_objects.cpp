#include "powershell/sim/exchange_objects.h"

#include <memory>
#include <stdexcept>

namespace easgate::powershell::sim {
namespace {

// Added by a remote session to every object it returns.
constexpr const char* kComputerName = "ex01.contoso.com";
constexpr const char* kRunspaceId = "9a7e3c1d-5b2f-4e60-8d14-c3b2a1f0e9d8";

PsTypeNames typeNames(std::initializer_list<const char*> names) {
  auto list = std::make_shared<std::vector<std::string>>();
  for (const char* n : names) list->push_back(std::string("Deserialized.") + n);
  return list;
}

const PsTypeNames& mobileDeviceTypes() {
  static const PsTypeNames kTypes =
      typeNames({"Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice",
                 "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
                 "Microsoft.Exchange.Data.Directory.ADObject",
                 "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"});
  return kTypes;
}

const PsTypeNames& statisticsTypes(const std::string& type_name) {
  static const PsTypeNames kTypes[] = {
      typeNames({kStatisticsTypeNames[0], "System.Object"}),
      typeNames({kStatisticsTypeNames[1], "System.Object"}),
      typeNames({kStatisticsTypeNames[2], "System.Object"}),
  };
  for (std::size_t i = 0; i < std::size(kStatisticsTypeNames); ++i) {
    if (type_name == kStatisticsTypeNames[i]) return kTypes[i];
  }
  return kTypes[0];
}

const PsTypeNames& casMailboxTypes() {
  static const PsTypeNames kTypes =
      typeNames({"Microsoft.Exchange.Data.Directory.Management.CASMailbox",
                 "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
                 "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"});
  return kTypes;
}

const PsTypeNames& multiValuedTypes() {
  static const PsTypeNames kTypes = typeNames(
      {"Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, mscorlib, Version=4.0.0.0, "
       "Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
       "Microsoft.Exchange.Data.MultiValuedPropertyBase", "System.Object"});
  return kTypes;
}

// Builds an object's properties in Exchange's order; `expected`, how many there will be, spares
// the list its regrowth (a harvest of 200,000 partnerships builds 400,000 objects).
class Props {
 public:
  explicit Props(std::vector<PsProperty>& out, std::size_t expected = 0) : out_(out) {
    out_.reserve(out_.size() + expected);
  }
  Props& text(const char* name, const std::string& value) {
    out_.push_back({name, value.empty() ? PsValue() : PsValue::text(PsType::kString, value)});
    return *this;
  }
  Props& time(const char* name, std::int64_t ticks) {
    out_.push_back(
        {name, ticks == 0 ? PsValue() : PsValue::dateTime({ticks, DateTimeKind::kUtc, 0})});
    return *this;
  }
  Props& flag(const char* name, bool value) {
    out_.push_back({name, PsValue::boolean(value)});
    return *this;
  }
  Props& guid(const char* name, const Guid& value) {
    out_.push_back({name, value.isNil() ? PsValue() : PsValue::text(PsType::kGuid, value.text())});
    return *this;
  }
  Props& value(const char* name, PsValue value) {
    out_.push_back({name, std::move(value)});
    return *this;
  }

 private:
  std::vector<PsProperty>& out_;
};

void addRemotingProperties(PsObject& object) {
  static const Guid runspaceId(kRunspaceId);
  Props(object.extended, 3)
      .text("PSComputerName", kComputerName)
      .guid("RunspaceId", runspaceId)
      .flag("PSShowComputerName", false);
}

std::string deviceName(const PartnershipFacts& f) {
  return f.device_type + "\xC2\xA7" + f.device_id;
}

std::string distinguishedName(const PartnershipFacts& f) {
  return "CN=" + deviceName(f) + ",CN=ExchangeActiveSyncDevices,CN=" + f.mailbox_name +
         ",OU=Users,DC=contoso,DC=com";
}

PsValue stringList(const std::vector<std::string>& items) {
  auto list = std::make_shared<PsObject>();
  list->type_names = multiValuedTypes();
  list->container = PsContainer::kList;
  for (const auto& i : items) list->items.push_back(PsValue::text(PsType::kString, i));
  return PsValue::object(std::move(list));
}

// A remote session shows proxy addresses as "SMTP:" (the primary) and "smtp:" (the others).
std::vector<std::string> emailAddresses(const MailboxFacts& f) {
  std::vector<std::string> out;
  if (const auto primary = f.primarySmtpAddress(); !primary.empty()) {
    out.push_back("SMTP:" + primary);
  }
  for (const auto& a : f.proxyAddresses()) out.push_back("smtp:" + a);
  return out;
}

}  // namespace

std::string partnershipIdentity(const PartnershipFacts& facts) {
  return facts.mailbox_identity + "/ExchangeActiveSyncDevices/" + deviceName(facts);
}

PsValue mobileDevice(const PartnershipFacts& f) {
  auto o = std::make_shared<PsObject>();
  o->type_names = mobileDeviceTypes();
  o->to_string = deviceName(f);
  Props(o->adapted, 27)
      .text("FriendlyName", f.friendly_name)
      .text("DeviceId", f.device_id)
      .text("DeviceImei", f.device_imei)
      .text("DeviceMobileOperator", f.mobile_operator)
      .text("DeviceOS", f.device_os)
      .text("DeviceOSLanguage", f.device_os_language)
      .text("DeviceTelephoneNumber", "")
      .text("DeviceType", f.device_type)
      .text("DeviceUserAgent", f.device_user_agent)
      .text("DeviceModel", f.device_model)
      .time("FirstSyncTime", f.first_sync_ticks)
      .text("UserDisplayName", f.mailbox_identity)
      .text("DeviceAccessState", f.access_state)
      .text("DeviceAccessStateReason", f.access_state_reason)
      .text("DeviceAccessControlRule", "")
      .text("ClientVersion", f.client_version)
      .text("ClientType", f.client_type)
      .flag("IsManaged", false)
      .flag("IsCompliant", false)
      .flag("IsDisabled", false)
      .text("Name", deviceName(f))
      .text("Identity", partnershipIdentity(f))
      .text("DistinguishedName", distinguishedName(f))
      .guid("Guid", f.guid)
      .time("WhenChangedUTC", f.when_changed_ticks)
      .time("WhenCreatedUTC", f.first_sync_ticks)
      .text("OrganizationId", "");
  addRemotingProperties(*o);
  return PsValue::object(std::move(o));
}

namespace {

// A mailbox's addresses as MailboxFacts keeps them: each ended by a NUL.
std::vector<std::string_view> addressParts(std::string_view all) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0, end = 0; (end = all.find('\0', start)) != std::string_view::npos;
       start = end + 1) {
    out.push_back(all.substr(start, end - start));
  }
  return out;
}

}  // namespace

std::string_view MailboxFacts::part(std::size_t index) const {
  // One of the first three, which are always there: found without splitting the rest.
  const std::string_view all = addresses_;
  std::size_t start = 0;
  for (std::size_t i = 0; i < index; ++i) start = all.find('\0', start) + 1;
  return all.substr(start, all.find('\0', start) - start);
}

void MailboxFacts::setParts(std::size_t first, std::size_t count,
                            const std::vector<std::string_view>& values) {
  for (std::string_view v : values) {
    if (v.find('\0') != std::string_view::npos) {
      throw std::invalid_argument("a mailbox's address holds a NUL character");
    }
  }
  const auto parts = addressParts(addresses_);
  std::string out;
  auto add = [&](std::string_view p) {
    out += p;
    out.push_back('\0');
  };
  for (std::size_t i = 0; i < first; ++i) add(parts[i]);
  for (std::string_view v : values) add(v);
  for (std::size_t i = first + count; i < parts.size(); ++i) add(parts[i]);
  out.shrink_to_fit();
  addresses_ = std::move(out);
}

std::string MailboxFacts::alias() const { return std::string(part(kAlias)); }
std::string MailboxFacts::userPrincipalName() const {
  return std::string(part(kUserPrincipalName));
}
std::string MailboxFacts::primarySmtpAddress() const {
  return std::string(part(kPrimarySmtpAddress));
}
std::vector<std::string> MailboxFacts::proxyAddresses() const {
  const auto parts = addressParts(addresses_);
  return {parts.begin() + kProxies, parts.end()};
}
void MailboxFacts::setAlias(std::string_view value) { setParts(kAlias, 1, {value}); }
void MailboxFacts::setUserPrincipalName(std::string_view value) {
  setParts(kUserPrincipalName, 1, {value});
}
void MailboxFacts::setPrimarySmtpAddress(std::string_view value) {
  setParts(kPrimarySmtpAddress, 1, {value});
}
void MailboxFacts::setProxyAddresses(const std::vector<std::string>& values) {
  setParts(kProxies, addressParts(addresses_).size() - kProxies, {values.begin(), values.end()});
}

std::string distinguishedName(const MailboxFacts& f) {
  return "CN=" + f.name + ",OU=Users,DC=contoso,DC=com";
}

PsValue mobileDeviceStatistics(const PartnershipFacts& f, const std::string& type_name) {
  auto o = std::make_shared<PsObject>();
  o->type_names = statisticsTypes(type_name);
  Props(o->adapted, 30)
      .time("FirstSyncTime", f.first_sync_ticks)
      .time("LastPolicyUpdateTime", f.first_sync_ticks)
      .time("LastSyncAttemptTime", f.last_success_sync_ticks)
      .time("LastSuccessSync", f.last_success_sync_ticks)
      .text("DeviceType", f.device_type)
      .text("DeviceID", f.device_id)
      .text("DeviceUserAgent", f.device_user_agent)
      .time("DeviceWipeSentTime", f.wipe_account_only ? 0 : f.wipe_sent_ticks)
      .time("DeviceWipeRequestTime", f.wipe_account_only ? 0 : f.wipe_request_ticks)
      .time("DeviceWipeAckTime", f.wipe_account_only ? 0 : f.wipe_ack_ticks)
      .time("AccountOnlyDeviceWipeSentTime", f.wipe_account_only ? f.wipe_sent_ticks : 0)
      .time("AccountOnlyDeviceWipeRequestTime", f.wipe_account_only ? f.wipe_request_ticks : 0)
      .time("AccountOnlyDeviceWipeAckTime", f.wipe_account_only ? f.wipe_ack_ticks : 0)
      .time("LastPingHeartbeat", 0)
      .text("DeviceModel", f.device_model)
      .text("DeviceImei", f.device_imei)
      .text("DeviceFriendlyName", f.friendly_name)
      .text("DeviceOS", f.device_os)
      .text("DeviceOSLanguage", f.device_os_language)
      .flag("IsRemoteWipeSupported", f.remote_wipe_supported)
      .text("Status", f.wipe_status)
      .text("StatusNote", "")
      .text("DeviceAccessState", f.access_state)
      .text("DeviceAccessStateReason", f.access_state_reason)
      .text("DevicePolicyApplied", "Default")
      .text("DevicePolicyApplicationStatus", "AppliedInFull")
      .text("ClientVersion", f.client_version)
      .text("ClientType", f.client_type)
      .text("Identity", partnershipIdentity(f))
      .guid("Guid", f.guid);
  addRemotingProperties(*o);
  return PsValue::object(std::move(o));
}

PsValue casMailbox(const MailboxFacts& f) {
  auto o = std::make_shared<PsObject>();
  o->type_names = casMailboxTypes();
  o->to_string = f.name;
  Props(o->adapted, 14)
      .text("Name", f.name)
      .text("DisplayName", f.name)
      .text("SamAccountName", f.sam_account_name)
      .text("PrimarySmtpAddress", f.primarySmtpAddress())
      .value("EmailAddresses", stringList(emailAddresses(f)))
      .flag("ActiveSyncEnabled", f.active_sync_enabled)
      .text("ActiveSyncMailboxPolicy", "Default")
      .flag("HasActiveSyncDevicePartnership", f.has_partnership)
      .value("ActiveSyncAllowedDeviceIDs", stringList(f.allowed_device_ids))
      .value("ActiveSyncBlockedDeviceIDs", stringList(f.blocked_device_ids))
      .text("Identity", f.identity)
      .guid("Guid", f.guid)
      .guid("ExchangeGuid", f.exchange_guid)
      .text("DistinguishedName", distinguishedName(f));
  addRemotingProperties(*o);
  return PsValue::object(std::move(o));
}

PsValue organizationSettings(const std::string& default_access_level,
                             const std::vector<std::string>& admin_mail_recipients,
                             const std::string& user_mail_insert) {
  static const PsTypeNames kTypes = typeNames(
      {"Microsoft.Exchange.Data.Directory.SystemConfiguration.ActiveSyncOrganizationSettings",
       "Microsoft.Exchange.Data.Directory.ADConfigurationObject", "System.Object"});
  auto o = std::make_shared<PsObject>();
  o->type_names = kTypes;
  o->to_string = "Mobile Mailbox Settings";
  Props(o->adapted)
      .text("DefaultAccessLevel", default_access_level)
      .text("UserMailInsert", user_mail_insert)
      .value("AdminMailRecipients", stringList(admin_mail_recipients))
      .text("Name", "Mobile Mailbox Settings")
      .text("Identity", "Mobile Mailbox Settings");
  addRemotingProperties(*o);
  return PsValue::object(std::move(o));
}

PsValue deviceAccessRule(const std::string& query_string, const std::string& characteristic,
                         const std::string& access_level) {
  static const PsTypeNames kTypes =
      typeNames({"Microsoft.Exchange.Data.Directory.SystemConfiguration.ActiveSyncDeviceAccessRule",
                 "Microsoft.Exchange.Data.Directory.ADConfigurationObject", "System.Object"});
  const std::string name = query_string + " (" + characteristic + ")";
  auto o = std::make_shared<PsObject>();
  o->type_names = kTypes;
  o->to_string = name;
  Props(o->adapted)
      .text("QueryString", query_string)
      .text("Characteristic", characteristic)
      .text("AccessLevel", access_level)
      .text("Name", name)
      .text("Identity", name);
  addRemotingProperties(*o);
  return PsValue::object(std::move(o));
}

}  // namespace easgate::powershell::sim
