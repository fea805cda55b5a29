#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json/json_value.h"
#include "service/table_output.h"

// How `easgate ctl` shows the agent's JSON answers to a person: as a table.
namespace easgate::service {

enum class CtlFormat { kTable, kJson, kCsv };

// "table", "json" or "csv" (any case).
std::optional<CtlFormat> parseCtlFormat(std::string_view name);

// The rows of an answer. A page (an object with an array of objects: devices, events, entries,
// rules, changes, commands, items) is one row per element; any other object is a row per member
// (field, value), a member that is an object a row per member of it, named by its path
// ("commands.failed"), and a list of objects rows per element ("settings.rules[0].name"). A
// page's columns are the elements' members in the order first met, with
// `preferred` (when the page's elements have them) first and alone; there a member that is an
// object or an array is shown as its JSON text, as a list of values is in a row. Values are
// shown as they are, null as "".
Table tableOfAnswer(const json::JsonValue& answer, const std::vector<std::string>& preferred = {});

// The JSON text of a value, compact (for a cell, and for pages joined by --all).
std::string jsonText(const json::JsonValue& value);

// The array of a page answer (see tableOfAnswer), or nullptr.
const json::JsonArray* pageOf(const json::JsonValue& answer);

}  // namespace easgate::service
