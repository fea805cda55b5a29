#pragma once

#include <string>
#include <vector>

namespace easgate::powershell {

// One Windows command line for `program` and `arguments`, quoted so that the child's C runtime
// (and CommandLineToArgvW, which .NET and so powershell.exe and pwsh follow) reads back exactly
// these arguments: spaces, tabs, quotes and backslashes before a quote included. Windows passes
// a child one string, not a list; Boost.Process 1.74's own quoting doubles quotes and leaves a
// trailing backslash to escape the closing quote ("C:\dir\" reaches the child as C:\dir").
// A pure function, so it is tested on every platform.
std::string windowsCommandLine(const std::string& program,
                               const std::vector<std::string>& arguments);

}  // namespace easgate::powershell
