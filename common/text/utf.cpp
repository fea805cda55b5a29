#include "common/text/utf.h"

#include <cstring>

namespace easgate::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool isHighSurrogate(char32_t u) { return u >= 0xD800 && u <= 0xDBFF; }
bool isLowSurrogate(char32_t u) { return u >= 0xDC00 && u <= 0xDFFF; }

Result<std::string, TextError> utf16ToUtf8(std::string_view bytes, bool little_endian,
                                           std::size_t bom_size) {
  if (bytes.size() % 2 != 0) {
    return TextError{TextErrc::kInvalidEncoding, "UTF-16 input has an odd number of bytes (" +
                                                     std::to_string(bytes.size()) +
                                                     "): the file is truncated or not UTF-16"};
  }
  auto unit_at = [&](std::size_t i) -> char32_t {
    auto b0 = static_cast<unsigned char>(bytes[i]);
    auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    return little_endian ? static_cast<char32_t>(b0 | (b1 << 8))
                         : static_cast<char32_t>((b0 << 8) | b1);
  };
  std::string out;
  out.reserve(bytes.size() / 2 + bytes.size() / 8);
  for (std::size_t i = bom_size; i < bytes.size(); i += 2) {
    char32_t unit = unit_at(i);
    if (unit < 0x80) {
      out.push_back(static_cast<char>(unit));
      continue;
    }
    if (isHighSurrogate(unit) && i + 3 < bytes.size() && isLowSurrogate(unit_at(i + 2))) {
      char32_t low = unit_at(i + 2);
      appendUtf8(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
      i += 2;
      continue;
    }
    if (isHighSurrogate(unit) || isLowSurrogate(unit)) {
      return TextError{TextErrc::kInvalidEncoding,
                       "unpaired UTF-16 surrogate at byte offset " + std::to_string(i)};
    }
    appendUtf8(out, unit);
  }
  return out;
}

}  // namespace

void appendUtf8(std::string& out, char32_t cp) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = kReplacement;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t nextCodePoint(std::string_view text, std::size_t& pos) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  int extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
  char32_t cp = lead & (0x3F >> extra);
  for (int k = 1; k <= extra && pos + static_cast<std::size_t>(k) < text.size(); ++k) {
    cp = (cp << 6) | (byte(pos + static_cast<std::size_t>(k)) & 0x3F);
  }
  pos += static_cast<std::size_t>(extra) + 1;
  return cp;
}

bool isValidUtf8(std::string_view text, std::size_t* error_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t block;
      std::memcpy(&block, s + i, 8);
      if (block & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlongs
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
    } else {
      if (error_offset) *error_offset = i;
      return false;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) {
      if (error_offset) *error_offset = i;
      return false;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        if (error_offset) *error_offset = i;
        return false;
      }
    }
    i += len;
  }
  return true;
}

Result<std::string, TextError> decodeToUtf8(std::string bytes, SourceEncoding* detected) {
  auto starts = [&](std::string_view prefix) {
    return bytes.size() >= prefix.size() &&
           std::memcmp(bytes.data(), prefix.data(), prefix.size()) == 0;
  };
  auto report = [&](SourceEncoding e) {
    if (detected) *detected = e;
  };
  using namespace std::string_view_literals;
  if (starts("\xFF\xFE"sv)) {
    report(SourceEncoding::kUtf16Le);
    return utf16ToUtf8(bytes, true, 2);
  }
  if (starts("\xFE\xFF"sv)) {
    report(SourceEncoding::kUtf16Be);
    return utf16ToUtf8(bytes, false, 2);
  }
  // UTF-16 without a BOM is recognised only by a leading '<' (or '#' of "#< CLIXML").
  if (bytes.size() >= 2 && bytes[1] == '\0' && (bytes[0] == '<' || bytes[0] == '#')) {
    report(SourceEncoding::kUtf16Le);
    return utf16ToUtf8(bytes, true, 0);
  }
  if (bytes.size() >= 2 && bytes[0] == '\0' && (bytes[1] == '<' || bytes[1] == '#')) {
    report(SourceEncoding::kUtf16Be);
    return utf16ToUtf8(bytes, false, 0);
  }
  std::size_t bom = 0;
  if (starts("\xEF\xBB\xBF"sv)) {
    bom = 3;
    report(SourceEncoding::kUtf8Bom);
  } else {
    report(SourceEncoding::kUtf8);
  }
  std::size_t bad = 0;
  if (!isValidUtf8(std::string_view(bytes).substr(bom), &bad)) {
    return TextError{TextErrc::kInvalidEncoding,
                     "invalid UTF-8 at byte offset " + std::to_string(bad + bom) +
                         " (expected UTF-8, or UTF-16 with a byte-order mark)"};
  }
  if (bom) bytes.erase(0, bom);
  return bytes;
}

}  // namespace easgate::text
