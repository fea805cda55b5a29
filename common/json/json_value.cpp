#include "common/json/json_value.h"

#include <charconv>
#include <cmath>
#include <tuple>

#include "common/text/hex.h"
#include "common/text/utf.h"

namespace easgate::json {

std::optional<bool> JsonValue::asBool() const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

std::optional<std::int64_t> JsonValue::asInt() const {
  if (auto* i = std::get_if<std::int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_)) {
    if (std::trunc(*d) == *d && std::fabs(*d) < 9.2e18) return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

std::optional<double> JsonValue::asNumber() const {
  if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v_)) return *d;
  return std::nullopt;
}

const std::string* JsonValue::asString() const { return std::get_if<std::string>(&v_); }
const JsonArray* JsonValue::asArray() const { return std::get_if<JsonArray>(&v_); }
const JsonObject* JsonValue::asObject() const { return std::get_if<JsonObject>(&v_); }

const JsonValue* JsonValue::find(std::string_view key) const {
  const JsonObject* object = asObject();
  if (!object) return nullptr;
  for (const auto& [k, v] : *object) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, std::size_t max_depth) : s_(text), max_depth_(max_depth) {}

  Result<JsonValue, JsonError> parseDocument() {
    std::size_t bad = 0;
    if (!text::isValidUtf8(s_, &bad)) return error(JsonErrc::kSyntax, bad, "invalid UTF-8");
    skipSpace();
    JsonValue value;
    if (auto e = parseValue(value, 0)) return *e;
    skipSpace();
    if (pos_ != s_.size()) return error(JsonErrc::kSyntax, pos_, "unexpected text after the value");
    return value;
  }

 private:
  static JsonError error(JsonErrc code, std::size_t at, const std::string& what) {
    return JsonError{code, "JSON: " + what + " at byte " + std::to_string(at)};
  }

  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<JsonError> parseValue(JsonValue& out, std::size_t depth) {
    if (depth > max_depth_) return error(JsonErrc::kTooDeep, pos_, "nesting too deep");
    if (pos_ >= s_.size()) return error(JsonErrc::kSyntax, pos_, "unexpected end");
    char c = s_[pos_];
    if (c == '{') return parseObject(out, depth);
    if (c == '[') return parseArray(out, depth);
    if (c == '"') {
      std::string str;
      if (auto e = parseString(str)) return e;
      out = JsonValue(std::move(str));
      return std::nullopt;
    }
    if (literal("true")) return out = JsonValue(true), std::nullopt;
    if (literal("false")) return out = JsonValue(false), std::nullopt;
    if (literal("null")) return out = JsonValue(), std::nullopt;
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber(out);
    return error(JsonErrc::kSyntax, pos_, std::string("unexpected character '") + c + "'");
  }

  std::optional<JsonError> parseNumber(JsonValue& out) {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (s_[pos_] == '-') ++pos_;
    std::size_t int_start = pos_;
    std::size_t int_digits = digits();
    if (int_digits == 0 || (int_digits > 1 && s_[int_start] == '0')) {
      return error(JsonErrc::kSyntax, start, "malformed number");
    }
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) return error(JsonErrc::kSyntax, start, "malformed number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return error(JsonErrc::kSyntax, start, "malformed number");
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integral) {
      std::int64_t i = 0;
      auto [end, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && end == last) {
        out = JsonValue(i);
        return std::nullopt;
      }
    }
    double d = 0;
    auto [end, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || end != last)
      return error(JsonErrc::kSyntax, start, "number out of range");
    out = JsonValue(d);
    return std::nullopt;
  }

  std::optional<JsonError> parseHex4(std::uint32_t& unit) {
    if (pos_ + 4 > s_.size()) return error(JsonErrc::kSyntax, pos_, "truncated \\u escape");
    unit = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = text::hexValue(s_[pos_++]);
      if (digit < 0) return error(JsonErrc::kSyntax, pos_ - 1, "bad hex digit in \\u escape");
      unit = unit << 4 | static_cast<std::uint32_t>(digit);
    }
    return std::nullopt;
  }

  std::optional<JsonError> parseString(std::string& out) {
    std::size_t start = pos_++;
    while (true) {
      if (pos_ >= s_.size()) return error(JsonErrc::kSyntax, start, "unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return std::nullopt;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return error(JsonErrc::kSyntax, pos_, "control character in a string");
      }
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      if (++pos_ >= s_.size()) return error(JsonErrc::kSyntax, start, "unterminated string");
      char e = s_[pos_++];
      if (auto simple = escapedCharacter(e)) {
        out.push_back(*simple);
        continue;
      }
      switch (e) {
        case 'u': {
          std::uint32_t unit = 0;
          if (auto err = parseHex4(unit)) return err;
          if (unit >= 0xD800 && unit <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
            std::size_t save = pos_;
            pos_ += 2;
            std::uint32_t low = 0;
            if (auto err = parseHex4(low)) return err;
            if (low >= 0xDC00 && low <= 0xDFFF) {
              text::appendUtf8(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
              break;
            }
            pos_ = save;
          }
          if (unit >= 0xD800 && unit <= 0xDFFF) {
            // An unpaired surrogate is no character: refused rather than silently replaced.
            return error(JsonErrc::kSyntax, pos_ - 6,
                         "\\u escape is an unpaired UTF-16 surrogate (not a character)");
          }
          text::appendUtf8(out, unit);
          break;
        }
        default: return error(JsonErrc::kSyntax, pos_ - 1, "unknown escape");
      }
    }
  }

  std::optional<JsonError> parseArray(JsonValue& out, std::size_t depth) {
    ++pos_;
    JsonArray items;
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      out = JsonValue(std::move(items));
      return std::nullopt;
    }
    while (true) {
      skipSpace();
      items.emplace_back();
      if (auto e = parseValue(items.back(), depth + 1)) return e;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        out = JsonValue(std::move(items));
        return std::nullopt;
      }
      return error(JsonErrc::kSyntax, pos_, "expected ',' or ']'");
    }
  }

  std::optional<JsonError> parseObject(JsonValue& out, std::size_t depth) {
    ++pos_;
    JsonObject members;
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      out = JsonValue(std::move(members));
      return std::nullopt;
    }
    while (true) {
      skipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return error(JsonErrc::kSyntax, pos_, "expected a key");
      std::size_t key_at = pos_;
      std::string key;
      if (auto e = parseString(key)) return e;
      for (const auto& m : members) {
        if (m.first == key)
          return error(JsonErrc::kSyntax, key_at, "duplicate key \"" + key + "\"");
      }
      skipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':')
        return error(JsonErrc::kSyntax, pos_, "expected ':'");
      ++pos_;
      skipSpace();
      // Built in place: moving a fresh JsonValue in trips GCC 12's -Wmaybe-uninitialized.
      members.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                           std::forward_as_tuple());
      if (auto e = parseValue(members.back().second, depth + 1)) return e;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        out = JsonValue(std::move(members));
        return std::nullopt;
      }
      return error(JsonErrc::kSyntax, pos_, "expected ',' or '}'");
    }
  }

  std::string_view s_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<char> escapedCharacter(char letter) {
  switch (letter) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return std::nullopt;
  }
}

Result<JsonValue, JsonError> parseJson(std::string_view text, std::size_t max_depth) {
  return Parser(text, max_depth).parseDocument();
}

}  // namespace easgate::json
