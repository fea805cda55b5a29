#include "common/json/json_writer.h"

#include "common/text/hex.h"
#include "common/text/utf.h"

namespace easgate::json {

void appendString(std::string& out, std::string_view utf8) {
  // Most text (every member name, most values) is printable ASCII without a quote or a
  // backslash: copied whole, after one look at each byte.
  std::size_t plain = 0;
  while (plain < utf8.size()) {
    const auto c = static_cast<unsigned char>(utf8[plain]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    ++plain;
  }
  if (plain == utf8.size()) {
    out.reserve(out.size() + utf8.size() + 2);
    out.push_back('"');
    out.append(utf8);
    out.push_back('"');
    return;
  }
  out.push_back('"');
  std::size_t run_start = 0;
  auto flush = [&](std::size_t end) { out.append(utf8.data() + run_start, end - run_start); };
  for (std::size_t i = plain; i < utf8.size(); ++i) {  // bytes before `plain` need nothing
    auto c = static_cast<unsigned char>(utf8[i]);
    const char* escape = nullptr;
    switch (c) {
      case '"': escape = "\\\""; break;
      case '\\': escape = "\\\\"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      case '\t': escape = "\\t"; break;
      default: break;
    }
    if (escape) {
      flush(i);
      out.append(escape);
      run_start = i + 1;
    } else if (c < 0x20) {
      flush(i);
      out.append("\\u00");
      text::appendHexByte(out, c);
      run_start = i + 1;
    } else if (c == 0xE2 && i + 2 < utf8.size() &&
               static_cast<unsigned char>(utf8[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(utf8[i + 2]) & 0xFE) == 0xA8) {
      // U+2028 / U+2029 are valid JSON but end lines in JavaScript; escape them.
      flush(i);
      out.append((static_cast<unsigned char>(utf8[i + 2]) == 0xA8) ? "\\u2028" : "\\u2029");
      i += 2;
      run_start = i + 1;
    } else if (c >= 0x80) {
      // Only valid UTF-8 goes out: text echoed from a request (a path with a stray byte) must
      // not make the answer something no JSON parser takes. A broken sequence becomes U+FFFD.
      const std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (length > 1 && i + length <= utf8.size() && text::isValidUtf8(utf8.substr(i, length))) {
        i += length - 1;
      } else {
        flush(i);
        out.append("\xEF\xBF\xBD");
        run_start = i + 1;
      }
    }
  }
  flush(utf8.size());
  out.push_back('"');
}

void JsonWriter::beforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_in_scope_.empty()) {
    if (!first_in_scope_.back()) out_.push_back(',');
    first_in_scope_.back() = false;
  }
}

void JsonWriter::beginObject() {
  beforeValue();
  out_.push_back('{');
  first_in_scope_.push_back(true);
}

void JsonWriter::endObject() {
  first_in_scope_.pop_back();
  out_.push_back('}');
}

void JsonWriter::beginArray() {
  beforeValue();
  out_.push_back('[');
  first_in_scope_.push_back(true);
}

void JsonWriter::endArray() {
  first_in_scope_.pop_back();
  out_.push_back(']');
}

void JsonWriter::key(std::string_view name) {
  beforeValue();
  appendString(out_, name);
  out_.push_back(':');
  after_key_ = true;
}

void JsonWriter::string(std::string_view utf8) {
  beforeValue();
  appendString(out_, utf8);
}

void JsonWriter::null() {
  beforeValue();
  out_.append("null");
}

void JsonWriter::raw(std::string_view json) {
  beforeValue();
  out_.append(json);
}

void JsonWriter::escapedString(std::string_view content) {
  beforeValue();
  out_.push_back('"');
  out_.append(content);
  out_.push_back('"');
}

void JsonWriter::boolean(bool value) {
  beforeValue();
  out_.append(value ? "true" : "false");
}

void JsonWriter::number(std::int64_t value) {
  beforeValue();
  out_.append(std::to_string(value));
}

}  // namespace easgate::json
