#include "powershell/bridge/request.h"

#include <map>
#include <stdexcept>

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "powershell/bridge/cmdlets_data.h"

namespace easgate::powershell {
namespace {

enum class Kind { kIdentity, kText, kResultSize, kSwitch, kTextList, kDeviceIdList };

struct CmdletRule {
  std::map<std::string, Kind> parameters;
  std::vector<std::string> required;
};

// The allowlist, parsed once from the file compiled into the binary.
struct Allowlist {
  std::vector<std::string> names;
  std::map<std::string, CmdletRule> rules;
};

const Allowlist& allowlist() {
  static const Allowlist kAllowlist = [] {
    Allowlist list;
    auto doc = json::parseJson(kCmdletsJson);
    // The file is ours and compiled in; a broken one must not ship.
    if (!doc) throw std::logic_error("cmdlets.json: " + doc.error().message);
    static const std::map<std::string, Kind> kKinds = {
        {"identity", Kind::kIdentity},     {"text", Kind::kText},
        {"resultSize", Kind::kResultSize}, {"switch", Kind::kSwitch},
        {"textList", Kind::kTextList},     {"deviceIdList", Kind::kDeviceIdList}};
    for (const auto& [name, spec] : *doc->find("cmdlets")->asObject()) {
      CmdletRule rule;
      for (const auto& [param, kind] : *spec.find("parameters")->asObject()) {
        rule.parameters.emplace(param, kKinds.at(*kind.asString()));
      }
      if (const auto* required = spec.find("required")) {
        for (const auto& r : *required->asArray()) rule.required.push_back(*r.asString());
      }
      list.names.push_back(name);
      list.rules.emplace(name, std::move(rule));
    }
    return list;
  }();
  return kAllowlist;
}

bool isValidIdentity(std::string_view s) {
  if (s.empty() || s.size() > 512) return false;
  bool any_visible = false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return false;
    if (c != ' ') any_visible = true;
  }
  return any_visible;
}

RequestError invalid(const std::string& cmdlet, const std::string& name, const std::string& why) {
  return RequestError{RequestErrc::kInvalidParameter, cmdlet + " -" + name + ": " + why};
}

Result<void, RequestError> checkValue(const std::string& cmdlet, const std::string& name, Kind kind,
                                      const ParameterValue& value) {
  auto all_ids = [](const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      if (!isValidIdentity(id)) return false;
    }
    return true;
  };
  switch (kind) {
    case Kind::kIdentity: {
      const auto* s = std::get_if<std::string>(&value);
      if (!s || !isValidIdentity(*s)) {
        return invalid(cmdlet, name,
                       "needs a non-empty name without control characters (an empty identity "
                       "would select every object)");
      }
      return {};
    }
    case Kind::kText:
      if (!std::holds_alternative<std::string>(value)) return invalid(cmdlet, name, "needs text");
      return {};
    case Kind::kResultSize: {
      if (const auto* s = std::get_if<std::string>(&value); s && *s == "Unlimited") return {};
      const auto* n = std::get_if<std::int64_t>(&value);
      if (!n || *n < 1 || *n > 2147483647) {
        return invalid(cmdlet, name, "needs Unlimited or a count from 1 to 2147483647");
      }
      return {};
    }
    case Kind::kSwitch:
      if (!std::holds_alternative<bool>(value))
        return invalid(cmdlet, name, "is a switch: true or false");
      return {};
    case Kind::kTextList: {
      const auto* list = std::get_if<std::vector<std::string>>(&value);
      if (!list || list->empty() || !all_ids(*list))
        return invalid(cmdlet, name, "needs a list of names");
      return {};
    }
    case Kind::kDeviceIdList: {
      if (std::holds_alternative<std::nullptr_t>(value)) return {};
      if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
        if (!all_ids(*list)) return invalid(cmdlet, name, "device IDs must be non-empty");
        return {};
      }
      if (const auto* edit = std::get_if<ListEdit>(&value)) {
        if (edit->add.empty() && edit->remove.empty())
          return invalid(cmdlet, name, "adds and removes nothing");
        if (!all_ids(edit->add) || !all_ids(edit->remove)) {
          return invalid(cmdlet, name, "device IDs must be non-empty");
        }
        return {};
      }
      return invalid(cmdlet, name, "needs a list, null, or {add, remove}");
    }
  }
  return invalid(cmdlet, name, "unknown kind");
}

void writeStrings(json::JsonWriter& w, const std::vector<std::string>& items) {
  w.beginArray();
  for (const auto& s : items) w.string(s);
  w.endArray();
}

Result<std::vector<std::string>, RequestError> readStrings(const json::JsonValue& v,
                                                           const std::string& what) {
  const auto* array = v.asArray();
  if (!array) return RequestError{RequestErrc::kMalformed, what + " is not a list"};
  std::vector<std::string> out;
  for (const auto& item : *array) {
    if (!item.asString())
      return RequestError{RequestErrc::kMalformed, what + " holds a non-string"};
    out.push_back(*item.asString());
  }
  return out;
}

}  // namespace

const ParameterValue* BridgeRequest::parameter(std::string_view name) const {
  for (const auto& [n, v] : parameters) {
    if (n == name) return &v;
  }
  return nullptr;
}

const std::vector<std::string>& allowedCmdlets() { return allowlist().names; }

Result<void, RequestError> validateRequest(const BridgeRequest& request) {
  const auto& rules = allowlist().rules;
  auto rule = rules.find(request.cmdlet);
  if (rule == rules.end()) {
    return RequestError{RequestErrc::kNotAllowed,
                        "'" + request.cmdlet + "' is not an allowlisted cmdlet"};
  }
  std::vector<std::string> seen;
  for (const auto& [name, value] : request.parameters) {
    auto kind = rule->second.parameters.find(name);
    if (kind == rule->second.parameters.end()) {
      return RequestError{RequestErrc::kNotAllowed,
                          request.cmdlet + " does not take -" + name + " here"};
    }
    for (const auto& s : seen) {
      if (s == name) return invalid(request.cmdlet, name, "given twice");
    }
    seen.push_back(name);
    if (auto ok = checkValue(request.cmdlet, name, kind->second, value); !ok) return ok.error();
  }
  for (const auto& required : rule->second.required) {
    if (!request.parameter(required)) return invalid(request.cmdlet, required, "is required");
  }
  return {};
}

std::string encodeRequestLine(std::uint64_t id, const BridgeRequest& request) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("id");
  w.number(static_cast<std::int64_t>(id));
  w.key("cmdlet");
  w.string(request.cmdlet);
  w.key("parameters");
  w.beginObject();
  for (const auto& [name, value] : request.parameters) {
    w.key(name);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>)
            w.null();
          else if constexpr (std::is_same_v<T, std::string>)
            w.string(v);
          else if constexpr (std::is_same_v<T, std::int64_t>)
            w.number(v);
          else if constexpr (std::is_same_v<T, bool>)
            w.boolean(v);
          else if constexpr (std::is_same_v<T, std::vector<std::string>>)
            writeStrings(w, v);
          else {
            w.beginObject();
            w.key("add");
            writeStrings(w, v.add);
            w.key("remove");
            writeStrings(w, v.remove);
            w.endObject();
          }
        },
        value);
  }
  w.endObject();
  w.endObject();
  out.push_back('\n');
  return out;
}

Result<DecodedRequest, RequestError> decodeRequestLine(std::string_view line) {
  auto doc = json::parseJson(line);
  if (!doc) return RequestError{RequestErrc::kMalformed, doc.error().message};
  DecodedRequest out;
  const auto* id = doc->find("id");
  const auto* cmdlet = doc->find("cmdlet");
  if (!id || !id->asInt() || *id->asInt() < 0 || !cmdlet || !cmdlet->asString()) {
    return RequestError{RequestErrc::kMalformed, "a request needs an id and a cmdlet"};
  }
  out.id = static_cast<std::uint64_t>(*id->asInt());
  out.request.cmdlet = *cmdlet->asString();
  const auto* params = doc->find("parameters");
  if (!params) return out;
  if (!params->asObject())
    return RequestError{RequestErrc::kMalformed, "parameters is not an object"};
  for (const auto& [name, v] : *params->asObject()) {
    ParameterValue value;
    if (v.isNull()) {
      value = nullptr;
    } else if (v.asString()) {
      value = *v.asString();
    } else if (v.asBool()) {
      value = *v.asBool();
    } else if (v.asInt()) {
      value = *v.asInt();
    } else if (v.isArray()) {
      auto list = readStrings(v, name);
      if (!list) return list.error();
      value = std::move(list).value();
    } else if (v.isObject()) {
      ListEdit edit;
      for (const auto& [key, part] : *v.asObject()) {
        if (key != "add" && key != "remove") {
          return RequestError{RequestErrc::kMalformed, name + " edits take add and remove only"};
        }
        auto list = readStrings(part, name + "." + key);
        if (!list) return list.error();
        (key == "add" ? edit.add : edit.remove) = std::move(list).value();
      }
      value = std::move(edit);
    } else {
      return RequestError{RequestErrc::kMalformed, name + " has a value of no known kind"};
    }
    out.request.parameters.emplace_back(name, std::move(value));
  }
  return out;
}

}  // namespace easgate::powershell
