#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace easgate::json {

// Appends `utf8` as a JSON string literal (quotes included). Input must be valid UTF-8;
// control characters and U+2028/U+2029 are escaped so the output is safe to embed anywhere.
void appendString(std::string& out, std::string_view utf8);

// Writes compact JSON into a caller-owned string, placing commas and colons itself.
// The caller keeps calls balanced (every begin has its end; key() before each member).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void beginObject();
  void endObject();
  void beginArray();
  void endArray();
  void key(std::string_view name);
  void string(std::string_view utf8);
  void null();
  // A value that is already JSON text (the caller vouches for it), written as it is.
  void raw(std::string_view json);
  // A string whose content is already escaped as string() escapes (read back from text this
  // writer wrote), written between quotes as it is.
  void escapedString(std::string_view content);
  void boolean(bool value);
  void number(std::int64_t value);

 private:
  void beforeValue();

  std::string& out_;
  std::vector<bool> first_in_scope_;
  bool after_key_ = false;
};

}  // namespace easgate::json
