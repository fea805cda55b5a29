#include "powershell/clixml/escape.h"

#include <cstdint>

#include "common/text/hex.h"
#include "common/text/utf.h"

namespace easgate::powershell::escape {
namespace {

// The code unit of an _xHHHH_ sequence at `pos`, or -1 when there is none.
long escapeAt(std::string_view text, std::size_t pos) {
  if (pos + 7 > text.size() || text[pos] != '_' || (text[pos + 1] != 'x' && text[pos + 1] != 'X') ||
      text[pos + 6] != '_') {
    return -1;
  }
  long unit = 0;
  for (std::size_t i = pos + 2; i < pos + 6; ++i) {
    int h = text::hexValue(text[i]);
    if (h < 0) return -1;
    unit = unit * 16 + h;
  }
  return unit;
}

void appendUnitEscape(std::string& out, std::uint32_t unit) {
  out.append("_x");
  for (int shift = 12; shift >= 0; shift -= 4) {
    out.push_back(text::hexDigit(unit >> shift, text::HexCase::kUpper));
  }
  out.push_back('_');
}

}  // namespace

std::string decode(std::string_view text) {
  std::size_t first = text.find('_');
  if (first == std::string_view::npos) return std::string(text);
  std::string out(text.substr(0, first));
  std::size_t i = first;
  while (i < text.size()) {
    long unit = escapeAt(text, i);
    if (unit < 0) {
      out.push_back(text[i++]);
      continue;
    }
    i += 7;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      long low = escapeAt(text, i);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        i += 7;
        text::appendUtf8(out,
                         static_cast<char32_t>(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)));
        continue;
      }
    }
    text::appendUtf8(out, static_cast<char32_t>(unit));  // a half pair becomes U+FFFD
  }
  return out;
}

namespace {

// Bytes copied as they are, whatever follows them: printable ASCII but for XML's markup and
// '_' (which may start an _xHHHH_ escape), and the bytes of two- and three-byte UTF-8 but for
// 0xC2 (which leads C1 controls). '"' is plain outside attributes only.
struct PlainBytes {
  bool text[256] = {};
  bool attribute[256] = {};
  constexpr PlainBytes() {
    for (int c = 0; c < 256; ++c) {
      const bool plain = (c >= 0x20 && c < 0x7F && c != '<' && c != '>' && c != '&' && c != '_') ||
                         (c >= 0x80 && c != 0xC2 && c < 0xF0);
      text[c] = plain;
      attribute[c] = plain && c != '"';
    }
  }
};
constexpr PlainBytes kPlainBytes;

}  // namespace

void appendEncoded(std::string& out, std::string_view utf8, bool in_attribute) {
  const bool* plain = in_attribute ? kPlainBytes.attribute : kPlainBytes.text;
  std::size_t run = 0;  // start of the pending run of bytes copied as they are
  auto flush = [&](std::size_t end) { out.append(utf8.data() + run, end - run); };
  for (std::size_t i = 0; i < utf8.size();) {
    if (plain[static_cast<unsigned char>(utf8[i])]) {
      ++i;
      continue;
    }
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c == '_') {
      bool before_x = i + 1 < utf8.size() && (utf8[i + 1] == 'x' || utf8[i + 1] == 'X');
      if (!before_x) {
        ++i;
        continue;
      }
      flush(i);
      appendUnitEscape(out, '_');
      run = ++i;
      continue;
    }
    std::size_t start = i;
    char32_t cp = text::nextCodePoint(utf8, i);
    if (cp >= 0x80 && cp < 0xA0) {
      flush(start);
      appendUnitEscape(out, cp);  // C1 controls
    } else if (cp >= 0x10000) {
      flush(start);
      appendUnitEscape(out, 0xD800 + ((cp - 0x10000) >> 10));
      appendUnitEscape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else if (cp >= 0x80) {
      continue;  // ordinary two-byte text starting with 0xC2: leave it in the run
    } else if (cp < 0x20 || cp == 0x7F) {
      flush(start);
      appendUnitEscape(out, cp);
    } else {
      flush(start);
      out.append(cp == '<' ? "&lt;" : cp == '>' ? "&gt;" : cp == '&' ? "&amp;" : "&quot;");
    }
    run = i;
  }
  flush(utf8.size());
}

}  // namespace easgate::powershell::escape
