#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace easgate::powershell {

enum class ClixmlErrc {
  kEncoding,   // the bytes are not UTF-8 or UTF-16 text
  kSyntax,     // not well-formed XML
  kStructure,  // well-formed XML, but not CLIXML (unknown element, missing Objs, bad Ref, ...)
  kValue,      // a primitive whose text is not of its type (an I32 that is not a number, ...)
  kTruncated,  // the document ends before </Objs>
};

using ClixmlError = Error<ClixmlErrc>;

// "line L, column C" of a byte offset in UTF-8 text; the column counts characters.
std::string describePosition(std::string_view text, std::size_t offset);

}  // namespace easgate::powershell
