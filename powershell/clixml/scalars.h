#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "powershell/clixml/ps_value.h"

// The text forms of CLIXML's primitive values (XML Schema lexical forms, as .NET's
// XmlConvert reads and writes them). Parsers return empty on anything malformed.
namespace easgate::powershell::scalars {

std::optional<std::int64_t> parseSigned(std::string_view text, std::int64_t min, std::int64_t max);
std::optional<std::uint64_t> parseUnsigned(std::string_view text, std::uint64_t max);
std::optional<bool> parseBool(std::string_view text);
std::optional<double> parseDouble(std::string_view text);
std::optional<double> parseSingle(std::string_view text);
std::optional<std::string> parseDecimal(std::string_view text);  // canonical text
std::optional<std::string> parseGuid(std::string_view text);     // lower-case
std::optional<std::string> parseVersion(std::string_view text);
std::optional<std::vector<std::uint8_t>> parseBase64(std::string_view text);
std::optional<PsDateTime> parseDateTime(std::string_view text);
std::optional<std::int64_t> parseTimeSpan(std::string_view text);  // ticks

std::string formatDouble(double value);
std::string formatSingle(double value);
std::string formatBase64(const std::vector<std::uint8_t>& bytes);
// 7 fractional digits, then Z, an offset, or nothing, as PowerShell writes <DT>.
std::string formatDateTime(const PsDateTime& value);
std::string formatTimeSpan(std::int64_t ticks);

// Leading and trailing XML white space removed (xs "collapse" for single tokens).
std::string_view trimXmlSpace(std::string_view text);

}  // namespace easgate::powershell::scalars
