#include "common/text/case_fold.h"

#include "common/text/ascii.h"
#include "common/text/utf.h"

namespace easgate::text {
namespace {

// Ranges where upper and lower case alternate: even code point upper, the next one lower
// (Latin Extended-A/B, Latin Extended Additional, Cyrillic's extended letters, Greek archaic).
struct Alternating {
  char32_t first;
  char32_t last;
};
constexpr Alternating kAlternating[] = {
    {0x0100, 0x012F}, {0x0132, 0x0137}, {0x014A, 0x0177}, {0x01DE, 0x01EF}, {0x01F8, 0x021F},
    {0x0222, 0x0233}, {0x0246, 0x024F}, {0x0370, 0x0373}, {0x03D8, 0x03EF}, {0x0460, 0x0481},
    {0x048A, 0x04BF}, {0x04D0, 0x052F}, {0x1E00, 0x1E95}, {0x1EA0, 0x1EFF}, {0x2C80, 0x2CE3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA72F}, {0xA732, 0xA76F}, {0xA779, 0xA77C},
    {0xA77E, 0xA787}, {0xA790, 0xA793}, {0xA796, 0xA7A9},
};

// Ranges where an odd code point is upper case and the next one lower.
constexpr Alternating kAlternatingOdd[] = {
    {0x0139, 0x0148}, {0x0179, 0x017E}, {0x01B3, 0x01B6}, {0x01CD, 0x01DC}, {0x04C1, 0x04CE},
};

// Ranges shifted by a fixed offset.
struct Shifted {
  char32_t first;
  char32_t last;
  char32_t offset;
};
constexpr Shifted kShifted[] = {
    {0x0041, 0x005A, 0x20},    // A-Z
    {0x00C0, 0x00D6, 0x20},    // À-Ö
    {0x00D8, 0x00DE, 0x20},    // Ø-Þ
    {0x0388, 0x038A, 37},      // Έ-Ί
    {0x0391, 0x03A1, 0x20},    // Α-Ρ
    {0x03A3, 0x03AB, 0x20},    // Σ-Ϋ
    {0x0400, 0x040F, 0x50},    // Ѐ-Џ
    {0x0410, 0x042F, 0x20},    // А-Я
    {0x0531, 0x0556, 0x30},    // Armenian
    {0x10A0, 0x10C5, 0x1C60},  // Georgian Asomtavruli -> Nuskhuri
    {0x1F08, 0x1F0F, -8u},     // Greek Extended, the regular blocks
    {0x1F18, 0x1F1D, -8u},    {0x1F28, 0x1F2F, -8u}, {0x1F38, 0x1F3F, -8u},
    {0x1F48, 0x1F4D, -8u},    {0x1F68, 0x1F6F, -8u}, {0x2160, 0x216F, 0x10},  // Roman numerals
    {0x24B6, 0x24CF, 26},                                                     // circled letters
    {0xFF21, 0xFF3A, 0x20},                                                   // full-width A-Z
};

// Single mappings that fit no range.
struct Single {
  char32_t from;
  char32_t to;
};
constexpr Single kSingles[] = {
    {0x00B5, 0x03BC},  // micro sign -> μ
    {0x0178, 0x00FF},  // Ÿ
    {0x017F, 0x0073},  // long s
    {0x0386, 0x03AC},  // Ά
    {0x038C, 0x03CC},  // Ό
    {0x038E, 0x03CD},  // Ύ
    {0x038F, 0x03CE},  // Ώ
    {0x03C2, 0x03C3},  // final sigma -> σ
    {0x03F4, 0x03B8},  // ϴ
    {0x1E9E, 0x00DF},  // capital sharp s -> ß
    {0x2126, 0x03C9},  // Ohm sign -> ω
    {0x212A, 0x006B},  // Kelvin sign -> k
    {0x212B, 0x00E5},  // Angstrom sign -> å
    {0x04C0, 0x04CF},  // Cyrillic palochka
};

}  // namespace

char32_t foldCodePoint(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 0x20 : c;
  for (const auto& s : kSingles) {
    if (s.from == c) return s.to;
  }
  for (const auto& r : kShifted) {
    if (c >= r.first && c <= r.last) return c + r.offset;
  }
  for (const auto& r : kAlternating) {
    if (c >= r.first && c <= r.last) return (c - r.first) % 2 == 0 ? c + 1 : c;
  }
  for (const auto& r : kAlternatingOdd) {
    if (c >= r.first && c <= r.last) return (c - r.first) % 2 == 0 ? c + 1 : c;
  }
  return c;
}

std::string foldCase(std::string_view utf8) {
  // Most names are ASCII: copied whole and folded in place up to the first byte that is not,
  // then decoded from there. (A harvest folds every name of every mailbox.)
  std::string out(utf8);
  std::size_t pos = 0;
  for (; pos < out.size() && static_cast<unsigned char>(out[pos]) < 0x80; ++pos) {
    out[pos] = lowerAsciiChar(out[pos]);
  }
  if (pos == out.size()) return out;
  out.resize(pos);
  while (pos < utf8.size()) {
    const auto byte = static_cast<unsigned char>(utf8[pos]);
    if (byte < 0x80) {
      out.push_back(lowerAsciiChar(utf8[pos]));
      ++pos;
      continue;
    }
    // Only a valid sequence is decoded; anything else is copied byte by byte.
    std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    if (length == 1 || pos + length > utf8.size() || !isValidUtf8(utf8.substr(pos, length))) {
      out.push_back(utf8[pos++]);
      continue;
    }
    std::size_t at = pos;
    appendUtf8(out, foldCodePoint(nextCodePoint(utf8, at)));
    pos = at;
  }
  return out;
}

bool isFormatCharacter(char32_t c) {
  return c == 0x00AD || (c >= 0x0600 && c <= 0x0605) || c == 0x061C || c == 0x06DD || c == 0x070F ||
         c == 0x08E2 || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
         (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
         c == 0x110BD || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F) ||
         (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0x1D173 && c <= 0x1D17A) || c == 0xE0001 ||
         (c >= 0xE0020 && c <= 0xE007F);
}

}  // namespace easgate::text
