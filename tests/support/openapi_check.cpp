#include "tests/support/openapi_check.h"

#include <algorithm>
#include <vector>

#include "common/json/json_value.h"
#include "protocol/openapi_document.h"

namespace easgate::testing {
namespace {

using json::JsonValue;

const JsonValue& document() {
  static const JsonValue doc = json::parseJson(protocol::openApiDocument()).value();
  return doc;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool pathMatches(std::string_view pattern, std::string_view path) {
  const auto p = segments(pattern);
  const auto s = segments(path);
  if (p.size() != s.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!p[i].empty() && p[i].front() == '{') continue;
    if (p[i] != s[i]) return false;
  }
  return true;
}

const JsonValue* resolve(const JsonValue* schema) {
  while (schema) {
    const JsonValue* ref = schema->find("$ref");
    if (!ref || !ref->asString()) return schema;
    const std::string name = ref->asString()->substr(ref->asString()->rfind('/') + 1);
    schema = document().find("components")->find("schemas")->find(name);
  }
  return schema;
}

std::string typeOf(const JsonValue& v) {
  if (v.isNull()) return "null";
  if (v.isObject()) return "object";
  if (v.isArray()) return "array";
  if (v.isString()) return "string";
  if (v.asBool()) return "boolean";
  if (v.asInt()) return "integer";
  return "number";
}

std::string check(const JsonValue& value, const JsonValue* schema, const std::string& where) {
  schema = resolve(schema);
  if (!schema) return where + ": no schema";
  if (const JsonValue* one_of = schema->find("oneOf")) {
    int fits = 0;
    std::string last;
    for (const auto& option : *one_of->asArray()) {
      const std::string problem = check(value, &option, where);
      if (problem.empty()) {
        ++fits;
      } else {
        last = problem;
      }
    }
    return fits == 1 ? "" : where + ": fits " + std::to_string(fits) + " of oneOf (" + last + ")";
  }
  if (const JsonValue* type = schema->find("type")) {
    std::vector<std::string> allowed;
    if (type->asString()) allowed.push_back(*type->asString());
    if (type->asArray()) {
      for (const auto& t : *type->asArray()) allowed.push_back(*t.asString());
    }
    const std::string actual = typeOf(value);
    const bool ok = std::find(allowed.begin(), allowed.end(), actual) != allowed.end() ||
                    (actual == "integer" &&
                     std::find(allowed.begin(), allowed.end(), "number") != allowed.end());
    if (!ok) return where + ": is " + actual;
  }
  if (const JsonValue* e = schema->find("enum")) {
    bool found = false;
    for (const auto& option : *e->asArray()) {
      if (option.asString() && value.asString() && *option.asString() == *value.asString()) {
        found = true;
      }
    }
    if (!found) return where + ": not in the enum";
  }
  if (const JsonValue* min = schema->find("minimum"); min && value.asInt()) {
    if (*value.asInt() < *min->asInt()) return where + ": below the minimum";
  }
  if (value.isObject()) {
    if (const JsonValue* required = schema->find("required")) {
      for (const auto& name : *required->asArray()) {
        if (!value.find(*name.asString())) return where + ": lacks " + *name.asString();
      }
    }
    const JsonValue* properties = schema->find("properties");
    const JsonValue* additional = schema->find("additionalProperties");
    for (const auto& [name, member] : *value.asObject()) {
      const JsonValue* member_schema = properties ? properties->find(name) : nullptr;
      if (!member_schema) {
        if (additional && additional->asBool() == false) return where + ": unknown member " + name;
        continue;
      }
      if (auto problem = check(member, member_schema, where + "." + name); !problem.empty()) {
        return problem;
      }
    }
  }
  if (value.isArray()) {
    if (const JsonValue* max = schema->find("maxItems");
        max && static_cast<std::int64_t>(value.asArray()->size()) > *max->asInt()) {
      return where + ": too many items";
    }
    if (const JsonValue* items = schema->find("items")) {
      for (std::size_t i = 0; i < value.asArray()->size(); ++i) {
        auto problem = check((*value.asArray())[i], items, where + "[" + std::to_string(i) + "]");
        if (!problem.empty()) return problem;
      }
    }
  }
  return "";
}

}  // namespace

std::string openApiViolation(std::string_view method, std::string_view path, int status,
                             std::string_view body) {
  std::string verb(method);
  std::transform(verb.begin(), verb.end(), verb.begin(), ::tolower);
  const JsonValue* operation = nullptr;
  // A literal path wins over a template ("/v1/mailboxes/x/lists/allowed" is the PUT one).
  for (const bool templates : {false, true}) {
    for (const auto& [pattern, item] : *document().find("paths")->asObject()) {
      const bool is_template = pattern.find('{') != std::string::npos;
      if (is_template != templates || !pathMatches(pattern, path)) continue;
      if (const JsonValue* op = item.find(verb)) {
        operation = op;
        break;
      }
    }
    if (operation) break;
  }
  if (!operation) return "no operation " + verb + " " + std::string(path) + " in the document";
  const JsonValue* response = operation->find("responses")->find(std::to_string(status));
  if (!response) {
    return verb + " " + std::string(path) + ": status " + std::to_string(status) +
           " is not documented";
  }
  const JsonValue* content = response->find("content");
  const JsonValue* media = content ? content->find("application/json") : nullptr;
  if (!media) return "";  // not a JSON answer (metrics)
  auto parsed = json::parseJson(body);
  if (!parsed) return "the body is not JSON: " + parsed.error().message;
  return check(parsed.value(), media->find("schema"), "body");
}

}  // namespace easgate::testing
