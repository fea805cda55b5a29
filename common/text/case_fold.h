#pragma once

#include <string>
#include <string_view>

namespace easgate::text {

// Names as Exchange compares them: without case, and not only in ASCII ("Zoë" and "ZOË" are one
// name). Applies Unicode simple case folding to valid UTF-8 for the scripts names are written
// in (Latin with its extensions, Greek, Cyrillic, Armenian, Georgian, full-width Latin);
// other code points, and bytes that are not valid UTF-8, are kept as they are.
std::string foldCase(std::string_view utf8);

// One code point, folded as foldCase folds it.
char32_t foldCodePoint(char32_t c);

// True when `c` is a Unicode format character (general category Cf: bidirectional controls
// such as U+202E, zero-width spaces and joiners, the byte-order mark, soft hyphen ...): an
// invisible character that makes one name look like another.
bool isFormatCharacter(char32_t c);

}  // namespace easgate::text
