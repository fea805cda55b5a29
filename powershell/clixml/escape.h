#pragma once

#include <string>
#include <string_view>

// PowerShell's escaping of text inside CLIXML (MS-PSRP 2.2.5.3.2): characters XML cannot
// carry, surrogate halves and "_x" are written as _xHHHH_ (one UTF-16 code unit each).
namespace easgate::powershell::escape {

// Decodes _xHHHH_ sequences (x or X, hex in either case) in UTF-8 text that XML has already
// unescaped; surrogate pairs are joined, and a half pair becomes U+FFFD.
std::string decode(std::string_view text);

// Appends `utf8` escaped for CLIXML: the _xHHHH_ rule, then XML's own escaping (and '"'
// when `in_attribute`). `utf8` must be valid UTF-8.
void appendEncoded(std::string& out, std::string_view utf8, bool in_attribute);

}  // namespace easgate::powershell::escape
