#pragma once

#include <cstdint>
#include <string>

// Times as easgate writes them everywhere (the API, exports, the simulator's files, PowerShell
// values shown as text): ISO 8601 in UTC with .NET's resolution of 100 ns,
// "2024-03-05T09:14:27.1234567Z": seven fraction digits when there is a fraction, none when the
// time falls on a whole second. One format, so that a device's times from Exchange and the
// agent's own (when it first saw the device, when a command ran) compare as text.
namespace easgate::utc {

inline constexpr std::int64_t kTicksPerSecond = 10'000'000;  // .NET ticks are 100 ns
inline constexpr std::int64_t kTicksPerMs = 10'000;
// 1970-01-01T00:00:00Z in .NET ticks (counted from 0001-01-01T00:00:00Z).
inline constexpr std::int64_t kUnixEpochDotNetTicks = 621'355'968'000'000'000;

// Appends "YYYY-MM-DDTHH:MM:SS", then ".fffffff" when there is a fraction or `always_fraction`.
// `dotnet_ticks` is clamped to DateTime's range (0001-01-01 to 9999-12-31).
void appendCalendarTime(std::string& out, std::int64_t dotnet_ticks, bool always_fraction);

std::string formatDotNetTicks(std::int64_t dotnet_ticks);
std::string formatUnixMs(std::int64_t unix_ms);
// The same, appended to `out` (a page of devices writes thousands).
void appendDotNetTicks(std::string& out, std::int64_t dotnet_ticks);
void appendUnixMs(std::string& out, std::int64_t unix_ms);

// The one other form, for spreadsheets: "2024-03-05 09:14:27", still UTC, to the second. Excel
// and LibreOffice read it as a date and time in a CSV file; they read the ISO form as text.
std::string formatSpreadsheetTicks(std::int64_t dotnet_ticks);

}  // namespace easgate::utc
