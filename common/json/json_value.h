#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace easgate::json {

class JsonValue;
using JsonArray = std::vector<JsonValue>;
using JsonObject = std::vector<std::pair<std::string, JsonValue>>;  // in document order

// A parsed JSON value. Integers that fit int64 keep their exact value.
class JsonValue {
 public:
  JsonValue() = default;  // null
  explicit JsonValue(bool v) : v_(v) {}
  explicit JsonValue(std::int64_t v) : v_(v) {}
  explicit JsonValue(double v) : v_(v) {}
  explicit JsonValue(std::string v) : v_(std::move(v)) {}
  explicit JsonValue(JsonArray v) : v_(std::move(v)) {}
  explicit JsonValue(JsonObject v) : v_(std::move(v)) {}

  bool isNull() const { return std::holds_alternative<std::monostate>(v_); }
  bool isObject() const { return std::holds_alternative<JsonObject>(v_); }
  bool isArray() const { return std::holds_alternative<JsonArray>(v_); }
  bool isString() const { return std::holds_alternative<std::string>(v_); }

  std::optional<bool> asBool() const;
  std::optional<std::int64_t> asInt() const;  // an integer, or a double with no fraction
  std::optional<double> asNumber() const;
  const std::string* asString() const;
  const JsonArray* asArray() const;
  const JsonObject* asObject() const;

  // A member of an object; null when this is no object or has no such member.
  const JsonValue* find(std::string_view key) const;

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, JsonArray, JsonObject> v_;
};

enum class JsonErrc { kSyntax, kTooDeep };
using JsonError = Error<JsonErrc>;

// The character a one-letter JSON escape stands for (\" \\ \/ \b \f \n \r \t, given the letter
// after the backslash); nullopt for any other (\u is four hex digits more).
std::optional<char> escapedCharacter(char letter);

// Parses one JSON text (RFC 8259): strict, UTF-8 only, no duplicate object keys, nesting at
// most `max_depth`. Errors name the byte offset.
Result<JsonValue, JsonError> parseJson(std::string_view text, std::size_t max_depth = 64);

}  // namespace easgate::json
