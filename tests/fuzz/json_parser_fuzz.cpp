// Fuzzes the strict JSON parser every request body goes through. Beyond "no crash": whatever it
// accepts has only valid UTF-8 in its strings (no unpaired surrogate slips through), and written
// back out it parses to the very same value.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "common/text/utf.h"

namespace {

using easgate::json::JsonValue;

void write(easgate::json::JsonWriter& w, const JsonValue& v) {
  if (v.isNull()) return w.null();
  if (auto b = v.asBool()) return w.boolean(*b);
  if (const auto* s = v.asString()) {
    if (!easgate::text::isValidUtf8(*s)) std::abort();
    return w.string(*s);
  }
  if (const auto* a = v.asArray()) {
    w.beginArray();
    for (const auto& item : *a) write(w, item);
    return w.endArray();
  }
  if (const auto* o = v.asObject()) {
    w.beginObject();
    for (const auto& [name, member] : *o) {
      if (!easgate::text::isValidUtf8(name)) std::abort();
      w.key(name);
      write(w, member);
    }
    return w.endObject();
  }
  // Numbers: an integer exactly; a double as text (its last digits may round).
  if (auto i = v.asInt()) return w.number(*i);
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", *v.asNumber());
  w.raw(text);
}

bool same(const JsonValue& a, const JsonValue& b) {
  if (a.isNull() || b.isNull()) return a.isNull() == b.isNull();
  if (a.asBool() || b.asBool()) return a.asBool() == b.asBool();
  if (a.asString() || b.asString()) {
    return a.asString() && b.asString() && *a.asString() == *b.asString();
  }
  if (a.asArray() || b.asArray()) {
    if (!a.asArray() || !b.asArray() || a.asArray()->size() != b.asArray()->size()) return false;
    for (std::size_t i = 0; i < a.asArray()->size(); ++i) {
      if (!same((*a.asArray())[i], (*b.asArray())[i])) return false;
    }
    return true;
  }
  if (a.asObject() || b.asObject()) {
    if (!a.asObject() || !b.asObject() || a.asObject()->size() != b.asObject()->size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.asObject()->size(); ++i) {
      const auto& [ka, va] = (*a.asObject())[i];
      const auto& [kb, vb] = (*b.asObject())[i];
      if (ka != kb || !same(va, vb)) return false;
    }
    return true;
  }
  return true;  // numbers: their text form may round; the parse succeeding is what counts
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto value =
      easgate::json::parseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!value.ok()) {
    if (value.error().message.empty()) std::abort();  // every refusal says why
    return 0;
  }
  std::string out;
  easgate::json::JsonWriter w(out);
  write(w, value.value());
  auto again = easgate::json::parseJson(out);
  if (!again.ok() || !same(again.value(), value.value())) std::abort();
  return 0;
}
