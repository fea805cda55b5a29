#include "protocol/requests.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <set>

#include "common/json/json_value.h"
#include "common/text/ascii.h"
#include "common/text/hex.h"
#include "common/text/utf.h"
#include "common/time/utc_time.h"
#include "protocol/command_kinds.h"
#include "protocol/validation.h"

namespace easgate::protocol {
namespace {

using json::JsonValue;

constexpr std::size_t kMaxPlanRules = 50;  // rule changes in one plan

ApiError invalidField(std::string field, std::string message) {
  return badRequest("invalid-field", std::move(message), std::move(field));
}

// The body as a JSON object whose members are all in `allowed`.
Result<JsonValue, ApiError> parseObject(std::string_view body,
                                        std::initializer_list<std::string_view> allowed) {
  if (body.size() > kMaxBodyBytes) {
    return ApiError{413, "body-too-large", "the request body is larger than 256 KiB", ""};
  }
  auto doc = json::parseJson(body, 16);
  if (!doc) return badRequest("invalid-json", "the body is not valid JSON: " + doc.error().message);
  const json::JsonObject* object = doc->asObject();
  if (!object) return badRequest("invalid-json", "the body must be a JSON object");
  for (const auto& [name, value] : *object) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return badRequest("unknown-field", "'" + name + "' is not a field of this request", name);
    }
  }
  return std::move(doc).value();
}

// A string member: empty when absent; an error when present but no string.
Result<std::string, ApiError> stringMember(const JsonValue& doc, std::string_view name) {
  const JsonValue* v = doc.find(name);
  if (!v || v->isNull()) return std::string();
  if (!v->asString())
    return invalidField(std::string(name), std::string(name) + " must be a string");
  return *v->asString();
}

// A page's cursor parameter, decoded (what nextCursor held).
Result<std::string, ApiError> cursorParameter(const std::string& name, const std::string& value) {
  auto position = value.size() <= 4096 ? decodeCursor(value) : std::nullopt;
  if (!position) {
    return invalidField(name, "the cursor is not one this agent gave (use nextCursor as is)");
  }
  return std::move(*position);
}

Result<std::int64_t, ApiError> integerParameter(const std::string& name, const std::string& text,
                                                std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return invalidField(name, name + " must be an integer from " + std::to_string(min) + " to " +
                                  std::to_string(max));
  }
  return value;
}

// A page's size: 1 to kMaxPageSize.
Result<std::size_t, ApiError> pageLimitParameter(const std::string& name, const std::string& text) {
  auto v = integerParameter(name, text, 1, static_cast<std::int64_t>(kMaxPageSize));
  if (!v) return v.error();
  return static_cast<std::size_t>(v.value());
}

// `limit` and `cursor`, which every paged list takes: false when `name` is neither. A list
// without a cursor (it pages by another parameter) passes none.
Result<bool, ApiError> pageParameter(const std::string& name, const std::string& value,
                                     std::size_t& limit, std::string* cursor) {
  if (name == "limit") {
    auto v = pageLimitParameter(name, value);
    if (!v) return v.error();
    limit = v.value();
    return true;
  }
  if (name == "cursor" && cursor != nullptr) {
    auto position = cursorParameter(name, value);
    if (!position) return position.error();
    *cursor = std::move(position).value();
    return true;
  }
  return false;
}

// A time, as the agent writes them.
Result<std::int64_t, ApiError> timeParameter(const std::string& name, const std::string& value) {
  const auto at = parseUtcTime(value);
  if (!at) return invalidField(name, name + " is an ISO 8601 UTC time, like 2026-11-01T00:00:00Z");
  return *at;
}

// Text to search for: 1 to `max` bytes of UTF-8, no control characters.
Result<std::string, ApiError> searchParameter(const std::string& name, const std::string& value,
                                              std::size_t max) {
  if (value.empty() || value.size() > max || !text::isValidUtf8(value) ||
      std::any_of(value.begin(), value.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return invalidField(name, name + " is 1 to " + std::to_string(max) + " printable characters");
  }
  return value;
}

ApiError unknownParameter(const std::string& name) {
  return badRequest("unknown-parameter", "'" + name + "' is not a parameter of this request", name);
}

ApiError repeatedParameter(const std::string& name) {
  return badRequest("invalid-parameter", "'" + name + "' is given more than once", name);
}

// The kinds POST /v1/commands takes, for the error that names them.
std::string postedKinds() {
  std::string out;
  for (const auto& k : kCommandKindTable) {
    if (!k.posted) continue;
    if (!out.empty()) out += ", ";
    out += k.name;
  }
  return out;
}

}  // namespace

Result<std::string, ApiError> parseHarvestRequest(std::string_view body) {
  if (body.empty()) return std::string("delta");
  auto doc = parseObject(body, {"kind"});
  if (!doc) return doc.error();
  auto kind = stringMember(doc.value(), "kind");
  if (!kind) return kind.error();
  if (kind.value().empty()) return std::string("delta");
  const std::string folded = text::lowerAscii(kind.value());
  if (folded != "full" && folded != "delta") {
    return invalidField("kind", "kind is full or delta");
  }
  return folded;
}

Result<CommandSubmission, ApiError> parseCommandSubmission(std::string_view body) {
  auto doc = parseObject(body, {"kind", "mailbox", "deviceId", "partnership"});
  if (!doc) return doc.error();
  CommandSubmission s;
  for (auto [name, target] :
       {std::pair{"kind", &s.kind}, std::pair{"mailbox", &s.mailbox},
        std::pair{"deviceId", &s.device_id}, std::pair{"partnership", &s.partnership}}) {
    auto v = stringMember(doc.value(), name);
    if (!v) return v.error();
    *target = std::move(v).value();
  }
  if (s.kind.empty()) return badRequest("missing-field", "kind is required", "kind");
  const CommandKindInfo* kind = commandKindNamed(s.kind);
  if (!kind || !kind->posted) {
    return invalidField("kind", "'" + s.kind + "' is no command kind: " + postedKinds());
  }
  if (kind->target == CommandTarget::kDeviceId) {
    if (!s.partnership.empty()) {
      return invalidField("partnership",
                          s.kind + " takes a mailbox and a deviceId, not a partnership");
    }
    if (s.mailbox.empty())
      return badRequest("missing-field", s.kind + " needs a mailbox", "mailbox");
    if (auto p = mailboxProblem(s.mailbox)) return invalidField("mailbox", *p);
    if (s.device_id.empty()) {
      return badRequest("missing-field", s.kind + " needs a deviceId", "deviceId");
    }
    if (auto p = deviceIdProblem(s.device_id)) return invalidField("deviceId", *p);
    return s;
  }
  if (!s.device_id.empty()) {
    return invalidField("deviceId", s.kind + " takes a partnership Identity, not a deviceId");
  }
  if (s.partnership.empty()) {
    return badRequest("missing-field", s.kind + " needs the partnership's Identity", "partnership");
  }
  if (auto p = partnershipProblem(s.partnership)) return invalidField("partnership", *p);
  if (!s.mailbox.empty()) {
    if (auto p = mailboxProblem(s.mailbox)) return invalidField("mailbox", *p);
  }
  return s;
}

Result<std::string, ApiError> parseDeviceIdBody(std::string_view body) {
  auto doc = parseObject(body, {"deviceId"});
  if (!doc) return doc.error();
  auto id = stringMember(doc.value(), "deviceId");
  if (!id) return id.error();
  if (id->empty()) return badRequest("missing-field", "deviceId is required", "deviceId");
  if (auto p = deviceIdProblem(id.value())) return invalidField("deviceId", *p);
  return std::move(id).value();
}

Result<std::vector<std::string>, ApiError> parseDeviceIdListBody(std::string_view body) {
  auto doc = parseObject(body, {"deviceIds"});
  if (!doc) return doc.error();
  const JsonValue* list = doc->find("deviceIds");
  if (!list) return badRequest("missing-field", "deviceIds is required", "deviceIds");
  if (!list->asArray()) return invalidField("deviceIds", "deviceIds must be an array of strings");
  if (list->asArray()->size() > kMaxListSize) {
    return invalidField("deviceIds", "a list holds at most 1000 device IDs");
  }
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list->asArray()->size(); ++i) {
    const std::string field = "deviceIds[" + std::to_string(i) + "]";
    const std::string* id = (*list->asArray())[i].asString();
    if (!id) return invalidField(field, "every device ID must be a string");
    if (auto p = deviceIdProblem(*id)) return invalidField(field, *p);
    if (!seen.insert(text::lowerAscii(*id)).second) {
      return invalidField(field, "'" + *id + "' is listed twice (device IDs ignore case)");
    }
    ids.push_back(*id);
  }
  return ids;
}

// A rule's members (in an object already checked for unknown ones); `where` prefixes the
// fields named in errors ("rules[0].").
Result<DeviceAccessRuleBody, ApiError> ruleMembers(const JsonValue& doc, const std::string& where) {
  DeviceAccessRuleBody r;
  for (auto [name, target] :
       {std::pair{"queryString", &r.query_string}, std::pair{"characteristic", &r.characteristic},
        std::pair{"accessLevel", &r.access_level}}) {
    const std::string field = where + name;
    auto v = stringMember(doc, name);
    if (!v) return invalidField(field, field + " must be a string");
    if (v->empty()) return badRequest("missing-field", field + " is required", field);
    *target = std::move(v).value();
  }
  auto oneOf = [](std::string& value, std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (text::equalsIgnoreAsciiCase(value, n)) {
        value = n;
        return true;
      }
    }
    return false;
  };
  if (!oneOf(r.characteristic, {"UserAgent", "DeviceOS", "DeviceModel", "DeviceType"})) {
    return invalidField(where + "characteristic",
                        "characteristic is UserAgent, DeviceOS, DeviceModel or DeviceType");
  }
  if (!oneOf(r.access_level, {"Allow", "Block", "Quarantine"})) {
    return invalidField(where + "accessLevel", "accessLevel is Allow, Block or Quarantine");
  }
  return r;
}

Result<PolicyPlanRequest, ApiError> parsePolicyPlanRequest(std::string_view body) {
  auto doc =
      parseObject(body, {"defaultAccessLevel", "grandfather", "rules", "removeRules", "limit"});
  if (!doc) return doc.error();
  PolicyPlanRequest r;
  if (const JsonValue* limit = doc->find("limit"); limit && !limit->isNull()) {
    auto n = limit->asInt();
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(kMaxPageSize)) {
      return invalidField("limit", "limit is a whole number from 1 to " +
                                       std::to_string(kMaxPageSize) +
                                       ": how many changes the answer lists");
    }
    r.limit = static_cast<std::size_t>(*n);
  }
  auto level = stringMember(doc.value(), "defaultAccessLevel");
  if (!level) return level.error();
  if (level->empty()) {
    return badRequest("missing-field", "defaultAccessLevel is required (Quarantine or Block)",
                      "defaultAccessLevel");
  }
  for (const char* allowed : {"Quarantine", "Block"}) {
    if (text::equalsIgnoreAsciiCase(level.value(), allowed)) r.default_access_level = allowed;
  }
  if (r.default_access_level.empty()) {
    return invalidField("defaultAccessLevel",
                        "'" + level.value() +
                            "' is no level a policy plan sets: Quarantine or Block (Allow is what "
                            "a rollback restores)");
  }
  if (const JsonValue* rules = doc->find("rules"); rules && !rules->isNull()) {
    if (!rules->asArray() || rules->asArray()->size() > kMaxPlanRules) {
      return invalidField("rules", "rules is a list of at most 50 rules");
    }
    for (std::size_t i = 0; i < rules->asArray()->size(); ++i) {
      const std::string where = "rules[" + std::to_string(i) + "]";
      const JsonValue& rule = (*rules->asArray())[i];
      if (!rule.asObject()) return invalidField(where, where + " must be an object");
      for (const auto& [name, value] : *rule.asObject()) {
        if (name != "queryString" && name != "characteristic" && name != "accessLevel") {
          return badRequest("unknown-field", "'" + name + "' is not a field of a rule",
                            where + "." + name);
        }
      }
      auto parsed = ruleMembers(rule, where + ".");
      if (!parsed) return parsed.error();
      r.rules.push_back(std::move(parsed).value());
    }
  }
  if (const JsonValue* remove = doc->find("removeRules"); remove && !remove->isNull()) {
    if (!remove->asArray() || remove->asArray()->size() > kMaxPlanRules) {
      return invalidField("removeRules", "removeRules is a list of at most 50 rule names");
    }
    for (std::size_t i = 0; i < remove->asArray()->size(); ++i) {
      const std::string field = "removeRules[" + std::to_string(i) + "]";
      const std::string* name = (*remove->asArray())[i].asString();
      if (!name || name->empty() || name->size() > 1100) {
        return invalidField(field,
                            "a rule is named by its name, \"<QueryString> (<Characteristic>)\"");
      }
      r.remove_rules.push_back(*name);
    }
  }
  const JsonValue* g = doc->find("grandfather");
  if (!g || g->isNull()) return r;
  if (const std::string* mode = g->asString()) {
    if (*mode == "none") {
      r.grandfather = PolicyPlanRequest::Grandfather::kNone;
    } else if (*mode == "allowed") {
      r.grandfather = PolicyPlanRequest::Grandfather::kAllowed;
    } else {
      return invalidField("grandfather",
                          "grandfather is \"none\", \"allowed\" or a list of "
                          "partnership Identities");
    }
    return r;
  }
  if (!g->asArray()) {
    return invalidField("grandfather",
                        "grandfather is \"none\", \"allowed\" or a list of partnership Identities");
  }
  if (g->asArray()->size() > kMaxListSize) {
    return invalidField("grandfather", "a list names at most 1000 partnerships");
  }
  r.grandfather = PolicyPlanRequest::Grandfather::kListed;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < g->asArray()->size(); ++i) {
    const std::string field = "grandfather[" + std::to_string(i) + "]";
    const std::string* identity = (*g->asArray())[i].asString();
    if (!identity) return invalidField(field, "every partnership must be its Identity, a string");
    if (auto p = partnershipProblem(*identity)) return invalidField(field, *p);
    if (!seen.insert(text::lowerAscii(*identity)).second) {
      return invalidField(field, "'" + *identity + "' is listed twice");
    }
    r.partnerships.push_back(*identity);
  }
  return r;
}

Result<DeviceAccessRuleBody, ApiError> parseDeviceAccessRuleBody(std::string_view body) {
  auto doc = parseObject(body, {"queryString", "characteristic", "accessLevel"});
  if (!doc) return doc.error();
  return ruleMembers(doc.value(), "");
}

Result<std::vector<std::string>, ApiError> parsePolicySettingsBody(std::string_view body) {
  auto doc = parseObject(body, {"adminMailRecipients"});
  if (!doc) return doc.error();
  const JsonValue* list = doc->find("adminMailRecipients");
  if (!list) {
    return badRequest("missing-field", "adminMailRecipients is required", "adminMailRecipients");
  }
  if (!list->asArray() || list->asArray()->size() > 100) {
    return invalidField("adminMailRecipients",
                        "adminMailRecipients is a list of at most 100 SMTP addresses");
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list->asArray()->size(); ++i) {
    const std::string field = "adminMailRecipients[" + std::to_string(i) + "]";
    const std::string* address = (*list->asArray())[i].asString();
    if (!address) return invalidField(field, "every recipient is an SMTP address, a string");
    if (auto p = smtpAddressProblem(*address)) return invalidField(field, *p);
    if (!seen.insert(text::lowerAscii(*address)).second) {
      return invalidField(field, "'" + *address + "' is listed twice");
    }
    out.push_back(*address);
  }
  return out;
}

bool isPlanId(std::string_view id) {
  if (id.size() != 21 || id.substr(0, 5) != "plan-") return false;
  return std::all_of(id.begin() + 5, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<std::string, ApiError> parsePolicyApplyRequest(std::string_view body) {
  auto doc = parseObject(body, {"planId"});
  if (!doc) return doc.error();
  auto id = stringMember(doc.value(), "planId");
  if (!id) return id.error();
  if (id->empty()) return badRequest("missing-field", "planId is required", "planId");
  if (!isPlanId(id.value())) {
    return invalidField("planId", "'" + id.value() + "' is no plan id this agent gives");
  }
  return std::move(id).value();
}

Result<PolicyRollbackRequest, ApiError> parsePolicyRollbackRequest(std::string_view body) {
  PolicyRollbackRequest r;
  if (body.empty()) return r;
  auto doc = parseObject(body, {"applyId", "removeGrandfathered"});
  if (!doc) return doc.error();
  if (const JsonValue* id = doc->find("applyId"); id && !id->isNull()) {
    auto n = id->asInt();
    if (!n || *n < 1) return invalidField("applyId", "applyId is a command id, a positive integer");
    r.apply_id = *n;
  }
  if (const JsonValue* remove = doc->find("removeGrandfathered"); remove && !remove->isNull()) {
    if (!remove->asBool())
      return invalidField("removeGrandfathered", "removeGrandfathered is true or false");
    r.remove_grandfathered = *remove->asBool();
  }
  return r;
}

std::string encodeCursor(std::string_view position) {
  std::string out = "d1";
  for (unsigned char c : position) text::appendHexByte(out, c);
  return out;
}

std::optional<std::string> decodeCursor(std::string_view cursor) {
  if (cursor.size() < 4 || cursor.substr(0, 2) != "d1" || cursor.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 2; i < cursor.size(); i += 2) {
    const int high = text::hexValue(cursor[i]), low = text::hexValue(cursor[i + 1]);
    if (high < 0 || low < 0 || (cursor[i] >= 'A' && cursor[i] <= 'F') ||
        (cursor[i + 1] >= 'A' && cursor[i + 1] <= 'F')) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return out;
}

Result<InventoryQuery, ApiError> parseInventoryQuery(const QueryParameters& query) {
  InventoryQuery q;
  std::set<std::string> given;
  for (const auto& [name, value] : query) {
    if (!given.insert(name).second) return repeatedParameter(name);
    if (name == "mailbox") {
      if (auto p = mailboxProblem(value)) return invalidField(name, *p);
      q.mailbox = value;
    } else if (name == "accessState") {
      // Any case, as Exchange's enums bind; kept as Exchange spells it.
      static constexpr std::string_view kStates[] = {"Allowed", "Blocked", "Quarantined",
                                                     "DeviceDiscovery", "Unknown"};
      const std::string folded = text::lowerAscii(value);
      const auto* state = std::find_if(std::begin(kStates), std::end(kStates),
                                       [&](auto s) { return text::lowerAscii(s) == folded; });
      if (state == std::end(kStates)) {
        return invalidField(name,
                            "accessState is one of Allowed, Blocked, Quarantined, "
                            "DeviceDiscovery, Unknown");
      }
      q.access_state = std::string(*state);
    } else if (name == "deviceType" || name == "q") {
      auto text = searchParameter(name, value, 64);
      if (!text) return text.error();
      (name == "q" ? q.search : q.device_type) = std::move(text).value();
    } else if (name == "seenSince") {
      auto at = timeParameter(name, value);
      if (!at) return at.error();
      q.seen_since_ms = at.value();
    } else {
      auto paged = pageParameter(name, value, q.limit, &q.cursor);
      if (!paged) return paged.error();
      if (!paged.value()) return unknownParameter(name);
    }
  }
  return q;
}

Result<EventsQuery, ApiError> parseEventsQuery(const QueryParameters& query) {
  EventsQuery q;
  std::set<std::string> given;
  for (const auto& [name, value] : query) {
    if (!given.insert(name).second) return repeatedParameter(name);
    if (name == "after") {
      auto v = integerParameter(name, value, 0, INT64_MAX);
      if (!v) return v.error();
      q.after = v.value();
    } else if (name == "wait") {
      auto v = integerParameter(name, value, 0, kMaxWaitSeconds);
      if (!v) return v.error();
      q.wait_seconds = static_cast<int>(v.value());
    } else {
      auto paged = pageParameter(name, value, q.limit, nullptr);
      if (!paged) return paged.error();
      if (!paged.value()) return unknownParameter(name);
    }
  }
  return q;
}

Result<PlanChangesQuery, ApiError> parsePlanChangesQuery(const QueryParameters& query) {
  PlanChangesQuery q;
  std::set<std::string> given;
  for (const auto& [name, value] : query) {
    if (!given.insert(name).second) return repeatedParameter(name);
    auto paged = pageParameter(name, value, q.limit, &q.cursor);
    if (!paged) return paged.error();
    if (!paged.value()) return unknownParameter(name);
  }
  return q;
}

Result<AuditQuery, ApiError> parseAuditQuery(const QueryParameters& query) {
  AuditQuery q;
  std::set<std::string> given;
  for (const auto& [name, value] : query) {
    if (!given.insert(name).second) return repeatedParameter(name);
    if (name == "since" || name == "until") {
      auto at = timeParameter(name, value);
      if (!at) return at.error();
      (name == "since" ? q.since_ms : q.until_ms) = at.value();
    } else if (name == "actor" || name == "action" || name == "target") {
      auto text = searchParameter(name, value, 256);
      if (!text) return text.error();
      (name == "actor"    ? q.actor
       : name == "action" ? q.action
                          : q.target) = std::move(text).value();
    } else if (name == "before") {
      auto v = integerParameter(name, value, 1, INT64_MAX);
      if (!v) return v.error();
      q.before = v.value();
    } else {
      auto paged = pageParameter(name, value, q.limit, nullptr);
      if (!paged) return paged.error();
      if (!paged.value()) return unknownParameter(name);
    }
  }
  return q;
}

Result<QueryParameters, ApiError> parseQueryString(std::string_view query) {
  QueryParameters out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    auto name = percentDecode(part.substr(0, eq), true);
    auto value = percentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!name || !value) {
      return badRequest("invalid-parameter", "the query string has a malformed percent escape");
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = text::hexValue(text[i + 1]);
      const int lo = text::hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!text::isValidUtf8(out)) return std::nullopt;
  return out;
}

std::string percentEncode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      text::appendHexByte(out, u, text::HexCase::kUpper);
    }
  }
  return out;
}

std::optional<std::int64_t> parseUtcTime(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail[40] = {};
  const std::string copy(text.substr(0, 39));
  const int n =
      std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%39s", &y, &mo, &d, &h, &mi, &s, tail);
  if (n < 7 || text.size() < 20) return std::nullopt;
  std::string_view rest(tail);
  std::int64_t ms = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    int scale = 100;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      ms += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    if (digits == 1) return std::nullopt;
    rest.remove_prefix(digits);
  }
  if (rest != "Z") return std::nullopt;
  using namespace std::chrono;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 59 || h < 0 || mi < 0 || s < 0) return std::nullopt;
  const auto t = sys_days(date) + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

}  // namespace easgate::protocol
