// The simulator's organisation as JSON, for `--org FILE` and saving state. Times are ISO 8601.
#include <stdexcept>

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "common/time/utc_time.h"
#include "powershell/clixml/scalars.h"
#include "powershell/sim/organisation.h"

namespace easgate::powershell::sim {
namespace {

using json::JsonValue;

std::string text(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.find(key);
  return v && v->asString() ? *v->asString() : std::string();
}

std::int64_t ticks(const JsonValue& object, std::string_view key) {
  auto dt = scalars::parseDateTime(text(object, key));
  return dt ? dt->utcTicks() : 0;
}

// A GUID member: nil when absent or empty.
Result<Guid, SimError> guidOf(const JsonValue& object, std::string_view key) {
  const std::string value = text(object, key);
  if (value.empty()) return Guid();
  auto guid = Guid::parse(value);
  if (!guid) {
    return SimError{SimErrc::kInvalidArgument, "organisation file: the " + std::string(key) +
                                                   " \"" + value + "\" is not a GUID"};
  }
  return *guid;
}

std::vector<std::string> strings(const JsonValue& object, std::string_view key) {
  std::vector<std::string> out;
  if (const JsonValue* v = object.find(key); v && v->asArray()) {
    for (const auto& item : *v->asArray()) {
      if (item.asString()) out.push_back(*item.asString());
    }
  }
  return out;
}

std::optional<AccessLevel> level(std::string_view name) { return exchange::accessLevelNamed(name); }

void writeTime(json::JsonWriter& w, std::string_view key, std::int64_t t) {
  if (t == 0) return;
  w.key(key);
  w.string(utc::formatDotNetTicks(t));
}

void writeStrings(json::JsonWriter& w, std::string_view key, const std::vector<std::string>& list) {
  w.key(key);
  w.beginArray();
  for (const auto& s : list) w.string(s);
  w.endArray();
}

}  // namespace

Result<Organisation, SimError> Organisation::fromJson(std::string_view text_json) {
  auto doc = json::parseJson(text_json);
  if (!doc) return SimError{SimErrc::kInvalidArgument, "organisation file: " + doc.error().message};
  const JsonValue& root = doc.value();
  Organisation org;
  if (auto l = level(text(root, "defaultAccessLevel"))) org.policy.default_level = *l;
  org.admin_mail_recipients = strings(root, "adminMailRecipients");
  org.user_mail_insert = text(root, "userMailInsert");
  if (auto t = text(root, "statisticsType"); !t.empty()) org.statistics_type = t;
  if (const JsonValue* rules = root.find("rules"); rules && rules->asArray()) {
    for (const auto& r : *rules->asArray()) {
      auto l = level(text(r, "accessLevel"));
      auto c = exchange::characteristicNamed(text(r, "characteristic"));
      if (!l || !c)
        return SimError{SimErrc::kInvalidArgument,
                        "organisation file: a rule without a valid accessLevel and characteristic"};
      org.policy.rules.push_back({*c, text(r, "queryString"), *l});
    }
  }
  const JsonValue* mailboxes = root.find("mailboxes");
  if (!mailboxes || !mailboxes->asArray()) {
    return SimError{SimErrc::kInvalidArgument, "organisation file: no \"mailboxes\" list"};
  }
  for (const auto& m : *mailboxes->asArray()) {
    SimMailbox mailbox;
    mailbox.facts.identity = text(m, "identity");
    mailbox.facts.name = text(m, "name");
    mailbox.facts.sam_account_name = text(m, "samAccountName");
    try {
      mailbox.facts.setPrimarySmtpAddress(text(m, "primarySmtpAddress"));
      mailbox.facts.setAlias(text(m, "alias"));
      mailbox.facts.setUserPrincipalName(text(m, "userPrincipalName"));
      mailbox.facts.setProxyAddresses(strings(m, "proxyAddresses"));
    } catch (const std::invalid_argument& e) {
      return SimError{SimErrc::kInvalidArgument, std::string("organisation file: ") + e.what()};
    }
    auto mailbox_guid = guidOf(m, "guid");
    if (!mailbox_guid) return mailbox_guid.error();
    mailbox.facts.guid = mailbox_guid.value();
    auto exchange_guid = guidOf(m, "exchangeGuid");
    if (!exchange_guid) return exchange_guid.error();
    mailbox.facts.exchange_guid = exchange_guid.value();
    if (mailbox.facts.guid.isNil()) mailbox.facts.guid = stableGuid(text(m, "identity"), 'g');
    if (mailbox.facts.exchange_guid.isNil()) {
      mailbox.facts.exchange_guid = stableGuid(text(m, "identity"), 'x');
    }
    mailbox.facts.allowed_device_ids = strings(m, "allowedDeviceIds");
    mailbox.facts.blocked_device_ids = strings(m, "blockedDeviceIds");
    if (mailbox.facts.identity.empty() || mailbox.facts.name.empty()) {
      return SimError{SimErrc::kInvalidArgument,
                      "organisation file: a mailbox without identity or name"};
    }
    if (const JsonValue* devices = m.find("devices"); devices && devices->asArray()) {
      for (const auto& d : *devices->asArray()) {
        PartnershipFacts f;
        f.mailbox_identity = mailbox.facts.identity;
        f.mailbox_name = mailbox.facts.name;
        f.device_id = text(d, "deviceId");
        f.device_type = text(d, "deviceType");
        f.device_model = text(d, "deviceModel");
        f.device_os = text(d, "deviceOs");
        f.device_user_agent = text(d, "deviceUserAgent");
        f.friendly_name = text(d, "friendlyName");
        f.device_imei = text(d, "deviceImei");
        if (auto c = text(d, "clientType"); !c.empty()) f.client_type = c;
        if (auto v = text(d, "clientVersion"); !v.empty()) f.client_version = v;
        if (auto l = text(d, "deviceOsLanguage"); !l.empty()) f.device_os_language = l;
        f.mobile_operator = text(d, "mobileOperator");
        auto device_guid = guidOf(d, "guid");
        if (!device_guid) return device_guid.error();
        f.guid = device_guid.value();
        f.access_state = text(d, "accessState");
        f.access_state_reason = text(d, "accessStateReason");
        f.first_sync_ticks = ticks(d, "firstSyncTime");
        f.last_success_sync_ticks = ticks(d, "lastSuccessSync");
        f.when_changed_ticks = ticks(d, "whenChanged");
        f.wipe_request_ticks = ticks(d, "wipeRequestTime");
        f.wipe_sent_ticks = ticks(d, "wipeSentTime");
        f.wipe_ack_ticks = ticks(d, "wipeAckTime");
        if (auto s = text(d, "wipeStatus"); !s.empty()) f.wipe_status = s;
        f.wipe_account_only =
            d.find("wipeAccountOnly") && d.find("wipeAccountOnly")->asBool().value_or(false);
        if (const JsonValue* n = d.find("wipeRequests"); n && n->asInt())
          f.wipe_requests = *n->asInt();
        if (f.device_id.empty() || f.device_type.empty()) {
          return SimError{SimErrc::kInvalidArgument,
                          "organisation file: a device without deviceId or deviceType"};
        }
        mailbox.devices.push_back(std::move(f));
      }
    }
    mailbox.facts.has_partnership = !mailbox.devices.empty();
    org.mailboxes_.push_back(std::move(mailbox));
  }
  for (auto& mb : org.mailboxes_) {
    for (auto& dev : mb.devices) {
      if (dev.access_state.empty())
        org.setAccess(dev, org.evaluate(mb, dev), dev.when_changed_ticks);
    }
  }
  org.reindex();
  return org;
}

std::string Organisation::toJson() const {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("defaultAccessLevel");
  w.string(accessLevelName(policy.default_level));
  writeStrings(w, "adminMailRecipients", admin_mail_recipients);
  w.key("userMailInsert");
  w.string(user_mail_insert);
  w.key("statisticsType");
  w.string(statistics_type);
  w.key("rules");
  w.beginArray();
  for (const auto& r : policy.rules) {
    w.beginObject();
    w.key("characteristic");
    w.string(exchange::characteristicName(r.characteristic));
    w.key("queryString");
    w.string(r.query_string);
    w.key("accessLevel");
    w.string(accessLevelName(r.level));
    w.endObject();
  }
  w.endArray();
  w.key("mailboxes");
  w.beginArray();
  for (const auto& m : mailboxes_) {
    w.beginObject();
    const std::string guid = m.facts.guid.text();
    const std::string primary = m.facts.primarySmtpAddress();
    const std::string alias = m.facts.alias();
    const std::string upn = m.facts.userPrincipalName();
    const std::string exchange_guid = m.facts.exchange_guid.text();
    for (auto [key, value] : {std::pair{"identity", &m.facts.identity.str()},
                              {"name", &m.facts.name.str()},
                              {"samAccountName", &m.facts.sam_account_name},
                              {"primarySmtpAddress", &primary},
                              {"guid", &guid},
                              {"alias", &alias},
                              {"userPrincipalName", &upn},
                              {"exchangeGuid", &exchange_guid}}) {
      w.key(key);
      w.string(*value);
    }
    writeStrings(w, "proxyAddresses", m.facts.proxyAddresses());
    writeStrings(w, "allowedDeviceIds", m.facts.allowed_device_ids);
    writeStrings(w, "blockedDeviceIds", m.facts.blocked_device_ids);
    w.key("devices");
    w.beginArray();
    for (const auto& d : m.devices) {
      w.beginObject();
      const std::string device_guid = d.guid.isNil() ? "" : d.guid.text();
      for (auto [key, value] : {std::pair{"deviceId", &d.device_id},
                                {"deviceType", &d.device_type.str()},
                                {"deviceModel", &d.device_model.str()},
                                {"deviceOs", &d.device_os.str()},
                                {"deviceOsLanguage", &d.device_os_language.str()},
                                {"deviceUserAgent", &d.device_user_agent.str()},
                                {"friendlyName", &d.friendly_name.str()},
                                {"deviceImei", &d.device_imei},
                                {"mobileOperator", &d.mobile_operator.str()},
                                {"clientType", &d.client_type.str()},
                                {"clientVersion", &d.client_version.str()},
                                {"guid", &device_guid},
                                {"accessState", &d.access_state.str()},
                                {"accessStateReason", &d.access_state_reason.str()},
                                {"wipeStatus", &d.wipe_status.str()}}) {
        w.key(key);
        w.string(*value);
      }
      writeTime(w, "firstSyncTime", d.first_sync_ticks);
      writeTime(w, "lastSuccessSync", d.last_success_sync_ticks);
      writeTime(w, "whenChanged", d.when_changed_ticks);
      writeTime(w, "wipeRequestTime", d.wipe_request_ticks);
      writeTime(w, "wipeSentTime", d.wipe_sent_ticks);
      writeTime(w, "wipeAckTime", d.wipe_ack_ticks);
      w.key("wipeAccountOnly");
      w.boolean(d.wipe_account_only);
      w.key("wipeRequests");
      w.number(d.wipe_requests);
      w.endObject();
    }
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  out.push_back('\n');
  return out;
}

}  // namespace easgate::powershell::sim
