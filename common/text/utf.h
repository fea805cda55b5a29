#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace easgate::text {

enum class TextErrc { kInvalidEncoding };
using TextError = Error<TextErrc>;

// The encoding a byte buffer was found to be in, from its byte-order mark or first bytes.
enum class SourceEncoding { kUtf8, kUtf8Bom, kUtf16Le, kUtf16Be };

// Turns text in UTF-8 (with or without BOM) or UTF-16 (LE/BE, with a BOM, or recognised by
// a leading '<') into validated UTF-8 without a BOM. Errors name the byte offset.
Result<std::string, TextError> decodeToUtf8(std::string bytes, SourceEncoding* detected = nullptr);

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool isValidUtf8(std::string_view text, std::size_t* error_offset = nullptr);

// Appends the UTF-8 form of a Unicode scalar value; a lone surrogate becomes U+FFFD.
void appendUtf8(std::string& out, char32_t code_point);

// Reads one code point at `pos` of valid UTF-8 and advances `pos` past it.
char32_t nextCodePoint(std::string_view text, std::size_t& pos);

}  // namespace easgate::text
