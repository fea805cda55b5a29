#include "service/ctl_output.h"

#include <algorithm>

#include "common/json/json_writer.h"
#include "common/text/ascii.h"

namespace easgate::service {
namespace {

constexpr std::string_view kPageMembers[] = {"devices", "events",   "entries", "rules",
                                             "changes", "commands", "items"};

void writeValue(json::JsonWriter& w, const json::JsonValue& v) {
  if (v.isNull()) {
    w.null();
  } else if (const std::string* s = v.asString()) {
    w.string(*s);
  } else if (v.isObject()) {
    w.beginObject();
    for (const auto& [key, member] : *v.asObject()) {
      w.key(key);
      writeValue(w, member);
    }
    w.endObject();
  } else if (v.isArray()) {
    w.beginArray();
    for (const auto& item : *v.asArray()) writeValue(w, item);
    w.endArray();
  } else if (auto b = v.asBool()) {
    w.boolean(*b);
  } else if (auto i = v.asInt()) {
    w.number(*i);
  } else if (auto d = v.asNumber()) {
    w.raw(std::to_string(*d));
  }
}

std::string cellOf(const json::JsonValue& v) {
  if (v.isNull()) return "";
  if (const std::string* s = v.asString()) return *s;
  return jsonText(v);
}

void addMemberRows(Table& table, const json::JsonObject& object, const std::string& path);

// A value's rows: an object's members, a list of objects element by element ("rules[0].name"),
// anything else one row.
void addValueRows(Table& table, const json::JsonValue& value, const std::string& name) {
  const json::JsonObject* object = value.asObject();
  const json::JsonArray* list = value.asArray();
  const bool objects = list && !list->empty() &&
                       std::all_of(list->begin(), list->end(), [](const json::JsonValue& e) {
                         return e.asObject() && !e.asObject()->empty();
                       });
  if (object && !object->empty()) {
    addMemberRows(table, *object, name);
  } else if (objects) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      addMemberRows(table, *(*list)[i].asObject(), name + "[" + std::to_string(i) + "]");
    }
  } else {
    table.rows.push_back({name, cellOf(value)});
  }
}

// A row per member of `object`, named by its path from the answer ("commands.failed"): what is
// inside is rows of its own, so that none is cut off at a terminal's width.
void addMemberRows(Table& table, const json::JsonObject& object, const std::string& path) {
  for (const auto& [key, value] : object) {
    addValueRows(table, value, path.empty() ? key : path + "." + key);
  }
}

}  // namespace

const json::JsonArray* pageOf(const json::JsonValue& answer) {
  for (std::string_view name : kPageMembers) {
    const json::JsonValue* member = answer.find(name);
    if (member && member->asArray()) return member->asArray();
  }
  return nullptr;
}

std::optional<CtlFormat> parseCtlFormat(std::string_view name) {
  if (text::equalsIgnoreAsciiCase(name, "table")) return CtlFormat::kTable;
  if (text::equalsIgnoreAsciiCase(name, "json")) return CtlFormat::kJson;
  if (text::equalsIgnoreAsciiCase(name, "csv")) return CtlFormat::kCsv;
  return std::nullopt;
}

std::string jsonText(const json::JsonValue& value) {
  std::string out;
  json::JsonWriter w(out);
  writeValue(w, value);
  return out;
}

Table tableOfAnswer(const json::JsonValue& answer, const std::vector<std::string>& preferred) {
  Table table;
  const json::JsonArray* page = answer.isArray() ? answer.asArray() : pageOf(answer);
  if (!page) {
    table.header = {"field", "value"};
    if (const json::JsonObject* object = answer.asObject()) {
      addMemberRows(table, *object, "");
    } else {
      table.rows.push_back({"value", cellOf(answer)});
    }
    return table;
  }
  bool has_preferred = !preferred.empty();
  for (const auto& name : preferred) {
    const bool present = std::any_of(page->begin(), page->end(), [&](const json::JsonValue& e) {
      return e.find(name) != nullptr;
    });
    has_preferred = has_preferred && (present || page->empty());
  }
  if (has_preferred) {
    table.header = preferred;
  } else {
    for (const auto& element : *page) {
      if (!element.asObject()) continue;
      for (const auto& [key, value] : *element.asObject()) {
        if (std::find(table.header.begin(), table.header.end(), key) == table.header.end()) {
          table.header.push_back(key);
        }
      }
    }
  }
  for (const auto& element : *page) {
    std::vector<std::string> row;
    for (const auto& column : table.header) {
      const json::JsonValue* v = element.find(column);
      row.push_back(v ? cellOf(*v) : "");
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace easgate::service
