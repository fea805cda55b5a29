#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace easgate::powershell {

// The primitive and object types of PowerShell's serialization (MS-PSRP 2.2.5).
enum class PsType : std::uint8_t {
  kNil,
  kString,        // <S>
  kChar,          // <C>  one UTF-16 code unit
  kBool,          // <B>
  kDateTime,      // <DT>
  kTimeSpan,      // <TS> held as 100 ns ticks
  kByte,          // <By>
  kSByte,         // <SB>
  kUInt16,        // <U16>
  kInt16,         // <I16>
  kUInt32,        // <U32>
  kInt32,         // <I32>
  kUInt64,        // <U64>
  kInt64,         // <I64>
  kSingle,        // <Sg>
  kDouble,        // <Db>
  kDecimal,       // <D>  kept as its canonical text: no binary type holds it exactly
  kGuid,          // <G>  lower-case 8-4-4-4-12 text
  kUri,           // <URI>
  kVersion,       // <Version>
  kXmlDocument,   // <XD>
  kScriptBlock,   // <SBK> text only: never executed
  kSecureString,  // <SS> opaque
  kByteArray,     // <BA>
  kObject,        // <Obj>
};

// The element name CLIXML uses for a type ("S", "I32", "Obj", ...).
std::string_view elementName(PsType type);

enum class DateTimeKind : std::uint8_t { kUnspecified, kUtc, kOffset };

// A .NET DateTime as CLIXML carries it: wall-clock ticks plus how to read them.
struct PsDateTime {
  std::int64_t ticks = 0;  // 100 ns units since 0001-01-01T00:00:00, as written
  DateTimeKind kind = DateTimeKind::kUnspecified;
  std::int16_t offset_minutes = 0;  // meaningful for kOffset only

  // The instant in UTC ticks; an unspecified-kind time is taken as UTC.
  std::int64_t utcTicks() const { return ticks - std::int64_t{offset_minutes} * 600'000'000; }
  bool operator==(const PsDateTime&) const = default;
};

class PsObject;

// One deserialized PowerShell value: a typed primitive or a shared, immutable object.
class PsValue {
 public:
  PsValue() = default;  // nil

  static PsValue text(PsType type, std::string value);  // S, URI, XD, SBK, SS, D, G, Version
  static PsValue boolean(bool value);
  static PsValue signedInt(PsType type, std::int64_t value);     // SB, I16, I32, I64, TimeSpan
  static PsValue unsignedInt(PsType type, std::uint64_t value);  // By, U16, U32, U64, Char
  static PsValue real(PsType type, double value);                // Sg, Db
  static PsValue dateTime(PsDateTime value);
  static PsValue bytes(std::vector<std::uint8_t> value);
  static PsValue object(std::shared_ptr<const PsObject> value);

  PsType type() const { return type_; }
  bool isNil() const { return type_ == PsType::kNil; }

  // Typed access; each returns empty when the value is of another kind.
  std::optional<std::string_view> asText() const;
  std::optional<bool> asBool() const;
  std::optional<std::int64_t> asSigned() const;
  std::optional<std::uint64_t> asUnsigned() const;
  std::optional<double> asReal() const;
  std::optional<PsDateTime> asDateTime() const;
  const std::vector<std::uint8_t>* asBytes() const;
  const PsObject* asObject() const;
  const std::shared_ptr<const PsObject>& sharedObject() const;

  // The value as a person would read it: text as is, numbers in decimal, an object by its
  // ToString (or the primitive it wraps, as for enums). Empty for nil.
  std::optional<std::string> display() const;

  bool operator==(const PsValue& other) const;

 private:
  using Data = std::variant<std::monostate, std::string, bool, std::int64_t, std::uint64_t, double,
                            PsDateTime, std::vector<std::uint8_t>, std::shared_ptr<const PsObject>>;
  PsValue(PsType type, Data data) : type_(type), data_(std::move(data)) {}

  PsType type_ = PsType::kNil;
  Data data_;
};

enum class PsContainer : std::uint8_t { kNone, kList, kEnumerable, kStack, kQueue, kDictionary };

struct PsProperty {
  std::string name;
  PsValue value;
  bool operator==(const PsProperty&) const = default;
};

struct PsDictionaryEntry {
  PsValue key;
  PsValue value;
  bool operator==(const PsDictionaryEntry&) const = default;
};

// Type names, most derived first; objects of one type share one list (TN / TNRef).
using PsTypeNames = std::shared_ptr<const std::vector<std::string>>;

// A deserialized PowerShell object (<Obj>): type names, string form, wrapped primitive,
// container contents and properties.
class PsObject {
 public:
  PsTypeNames type_names;
  std::optional<std::string> to_string;
  std::optional<PsValue> base_value;  // the primitive an enum or extended primitive carries
  PsContainer container = PsContainer::kNone;
  std::vector<PsValue> items;              // LST, IE, STK, QUE
  std::vector<PsDictionaryEntry> entries;  // DCT
  std::vector<PsProperty> adapted;         // <Props>
  std::vector<PsProperty> extended;        // <MS>

  // A property by name, case-insensitively as PowerShell does, adapted before extended.
  const PsValue* property(std::string_view name) const;

  // True when a type name equals `name`, with or without the "Deserialized." prefix.
  bool hasType(std::string_view name) const;

  bool operator==(const PsObject& other) const;
};

}  // namespace easgate::powershell
