#include "powershell/clixml/ps_value.h"

#include <cmath>

#include "common/text/ascii.h"
#include "common/text/utf.h"
#include "common/time/utc_time.h"
#include "powershell/clixml/scalars.h"

namespace easgate::powershell {

std::string_view elementName(PsType type) {
  switch (type) {
    case PsType::kNil: return "Nil";
    case PsType::kString: return "S";
    case PsType::kChar: return "C";
    case PsType::kBool: return "B";
    case PsType::kDateTime: return "DT";
    case PsType::kTimeSpan: return "TS";
    case PsType::kByte: return "By";
    case PsType::kSByte: return "SB";
    case PsType::kUInt16: return "U16";
    case PsType::kInt16: return "I16";
    case PsType::kUInt32: return "U32";
    case PsType::kInt32: return "I32";
    case PsType::kUInt64: return "U64";
    case PsType::kInt64: return "I64";
    case PsType::kSingle: return "Sg";
    case PsType::kDouble: return "Db";
    case PsType::kDecimal: return "D";
    case PsType::kGuid: return "G";
    case PsType::kUri: return "URI";
    case PsType::kVersion: return "Version";
    case PsType::kXmlDocument: return "XD";
    case PsType::kScriptBlock: return "SBK";
    case PsType::kSecureString: return "SS";
    case PsType::kByteArray: return "BA";
    case PsType::kObject: return "Obj";
  }
  return "?";
}

PsValue PsValue::text(PsType type, std::string value) { return PsValue(type, std::move(value)); }
PsValue PsValue::boolean(bool value) { return PsValue(PsType::kBool, value); }
PsValue PsValue::signedInt(PsType type, std::int64_t value) { return PsValue(type, value); }
PsValue PsValue::unsignedInt(PsType type, std::uint64_t value) { return PsValue(type, value); }
PsValue PsValue::real(PsType type, double value) { return PsValue(type, value); }
PsValue PsValue::dateTime(PsDateTime value) { return PsValue(PsType::kDateTime, value); }
PsValue PsValue::bytes(std::vector<std::uint8_t> value) {
  return PsValue(PsType::kByteArray, std::move(value));
}
PsValue PsValue::object(std::shared_ptr<const PsObject> value) {
  return PsValue(PsType::kObject, std::move(value));
}

std::optional<std::string_view> PsValue::asText() const {
  if (auto* s = std::get_if<std::string>(&data_)) return std::string_view(*s);
  return std::nullopt;
}
std::optional<bool> PsValue::asBool() const {
  if (auto* b = std::get_if<bool>(&data_)) return *b;
  return std::nullopt;
}
std::optional<std::int64_t> PsValue::asSigned() const {
  if (auto* v = std::get_if<std::int64_t>(&data_)) return *v;
  return std::nullopt;
}
std::optional<std::uint64_t> PsValue::asUnsigned() const {
  if (auto* v = std::get_if<std::uint64_t>(&data_)) return *v;
  return std::nullopt;
}
std::optional<double> PsValue::asReal() const {
  if (auto* v = std::get_if<double>(&data_)) return *v;
  return std::nullopt;
}
std::optional<PsDateTime> PsValue::asDateTime() const {
  if (auto* v = std::get_if<PsDateTime>(&data_)) return *v;
  return std::nullopt;
}
const std::vector<std::uint8_t>* PsValue::asBytes() const {
  return std::get_if<std::vector<std::uint8_t>>(&data_);
}
const PsObject* PsValue::asObject() const {
  auto* p = std::get_if<std::shared_ptr<const PsObject>>(&data_);
  return p ? p->get() : nullptr;
}
const std::shared_ptr<const PsObject>& PsValue::sharedObject() const {
  static const std::shared_ptr<const PsObject> kNone;
  auto* p = std::get_if<std::shared_ptr<const PsObject>>(&data_);
  return p ? *p : kNone;
}

std::optional<std::string> PsValue::display() const {
  switch (type_) {
    case PsType::kNil: return std::nullopt;
    case PsType::kBool: return std::string(*asBool() ? "True" : "False");  // as PowerShell prints
    case PsType::kDateTime: return utc::formatDotNetTicks(asDateTime()->utcTicks());
    case PsType::kTimeSpan: return scalars::formatTimeSpan(*asSigned());
    case PsType::kSingle: return scalars::formatSingle(*asReal());
    case PsType::kDouble: return scalars::formatDouble(*asReal());
    case PsType::kByteArray: return scalars::formatBase64(*asBytes());
    case PsType::kChar: {
      std::string out;
      text::appendUtf8(out, static_cast<char32_t>(*asUnsigned()));  // half a pair -> U+FFFD
      return out;
    }
    case PsType::kObject: {
      const PsObject* obj = asObject();
      if (obj->to_string) return obj->to_string;
      if (obj->base_value) return obj->base_value->display();
      return std::nullopt;
    }
    default: break;
  }
  if (auto s = asText()) return std::string(*s);
  if (auto v = asSigned()) return std::to_string(*v);
  if (auto v = asUnsigned()) return std::to_string(*v);
  return std::nullopt;
}

bool PsValue::operator==(const PsValue& other) const {
  if (type_ != other.type_) return false;
  if (auto* a = std::get_if<std::shared_ptr<const PsObject>>(&data_)) {
    const auto& b = std::get<std::shared_ptr<const PsObject>>(other.data_);
    return a->get() == b.get() || (*a && b && **a == *b);
  }
  if (auto* a = std::get_if<double>(&data_)) {
    double b = std::get<double>(other.data_);
    return *a == b || (std::isnan(*a) && std::isnan(b));
  }
  return data_ == other.data_;
}

const PsValue* PsObject::property(std::string_view name) const {
  for (const auto* list : {&adapted, &extended}) {
    for (const auto& p : *list) {
      if (text::equalsIgnoreAsciiCase(p.name, name)) return &p.value;
    }
  }
  return nullptr;
}

bool PsObject::hasType(std::string_view name) const {
  if (!type_names) return false;
  constexpr std::string_view kDeserialized = "Deserialized.";
  for (std::string_view t : *type_names) {
    if (t.substr(0, kDeserialized.size()) == kDeserialized) t.remove_prefix(kDeserialized.size());
    if (t == name) return true;
  }
  return false;
}

bool PsObject::operator==(const PsObject& other) const {
  auto names = [](const PsTypeNames& p) { return p ? *p : std::vector<std::string>{}; };
  return names(type_names) == names(other.type_names) && to_string == other.to_string &&
         base_value == other.base_value && container == other.container && items == other.items &&
         entries == other.entries && adapted == other.adapted && extended == other.extended;
}

}  // namespace easgate::powershell
