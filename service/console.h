#pragma once

#include <cstdio>
#include <filesystem>

namespace easgate::service {

// True when the stream is an interactive terminal (so progress lines make sense on it).
bool isTerminal(std::FILE* stream);

// Where the agent keeps its store when no --data-dir is given: /var/lib/easgate, or
// %ProgramData%\easgate on Windows.
std::filesystem::path defaultDataDirectory();

}  // namespace easgate::service
