#include "agent/policy/organisation_policy.h"

#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"

namespace easgate::agent::policy {

namespace exchange = powershell::exchange;

OrganisationPolicy policyFromExchange(const powershell::PsObject& settings,
                                      const std::vector<powershell::PsObject>& rules) {
  OrganisationPolicy p;
  // An organisation never configured reads as Exchange's default, Allow.
  p.access.default_level = exchange::accessLevelNamed(propertyText(settings, "DefaultAccessLevel"))
                               .value_or(exchange::AccessLevel::kAllow);
  p.admin_mail_recipients = propertyList(settings, "AdminMailRecipients");
  p.user_mail_insert = propertyText(settings, "UserMailInsert");
  for (const auto& o : rules) {
    auto level = exchange::accessLevelNamed(propertyText(o, "AccessLevel"));
    auto characteristic = exchange::characteristicNamed(propertyText(o, "Characteristic"));
    if (!level || !characteristic) {
      std::string name = propertyText(o, "Name");
      if (name.empty()) name = propertyText(o, "Identity");
      p.unmodelled_rules.push_back(name);
      continue;
    }
    p.access.rules.push_back({*characteristic, propertyText(o, "QueryString"), *level});
  }
  return p;
}

void writeRules(json::JsonWriter& w, const std::vector<exchange::DeviceAccessRule>& rules) {
  w.beginArray();
  for (const auto& r : rules) {
    w.beginObject();
    w.key("name");
    w.string(r.name());
    w.key("queryString");
    w.string(r.query_string);
    w.key("characteristic");
    w.string(exchange::characteristicName(r.characteristic));
    w.key("accessLevel");
    w.string(exchange::accessLevelName(r.level));
    w.endObject();
  }
  w.endArray();
}

void writePolicyJson(std::string& out, const OrganisationPolicy& p) {
  json::JsonWriter w(out);
  w.beginObject();
  w.key("defaultAccessLevel");
  w.string(exchange::accessLevelName(p.access.default_level));
  w.key("adminMailRecipients");
  w.beginArray();
  for (const auto& r : p.admin_mail_recipients) w.string(r);
  w.endArray();
  w.key("userMailInsert");
  w.string(p.user_mail_insert);
  w.key("rules");
  writeRules(w, p.access.rules);
  w.key("unmodelledRules");
  w.beginArray();
  for (const auto& r : p.unmodelled_rules) w.string(r);
  w.endArray();
  w.endObject();
}

std::string policyJson(const OrganisationPolicy& policy) {
  std::string out;
  writePolicyJson(out, policy);
  return out;
}

std::optional<OrganisationPolicy> policyFromJson(std::string_view document) {
  auto doc = json::parseJson(document);
  if (!doc || !doc->asObject()) return std::nullopt;
  auto text = [](const json::JsonValue& o, std::string_view key) {
    const json::JsonValue* v = o.find(key);
    return v && v->asString() ? *v->asString() : std::string();
  };
  auto strings = [](const json::JsonValue& o, std::string_view key) {
    std::vector<std::string> out;
    if (const json::JsonValue* v = o.find(key); v && v->asArray()) {
      for (const auto& item : *v->asArray()) {
        if (item.asString()) out.push_back(*item.asString());
      }
    }
    return out;
  };
  OrganisationPolicy p;
  auto level = exchange::accessLevelNamed(text(*doc, "defaultAccessLevel"));
  if (!level) return std::nullopt;
  p.access.default_level = *level;
  p.admin_mail_recipients = strings(*doc, "adminMailRecipients");
  p.user_mail_insert = text(*doc, "userMailInsert");
  p.unmodelled_rules = strings(*doc, "unmodelledRules");
  if (const json::JsonValue* rules = doc->find("rules"); rules && rules->asArray()) {
    for (const auto& r : *rules->asArray()) {
      auto l = exchange::accessLevelNamed(text(r, "accessLevel"));
      auto c = exchange::characteristicNamed(text(r, "characteristic"));
      if (!l || !c) return std::nullopt;
      p.access.rules.push_back({*c, text(r, "queryString"), *l});
    }
  }
  return p;
}

}  // namespace easgate::agent::policy
