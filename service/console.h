#pragma once

#include <cstdio>

namespace easgate::service {

// True when the stream is an interactive terminal (so progress lines make sense on it).
bool isTerminal(std::FILE* stream);

}  // namespace easgate::service
