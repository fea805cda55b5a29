#pragma once

#include <ostream>

#include "agent/commands/command.h"

namespace easgate::agent {

// How a failed expectation shows a range of commands ("commands 4 to 32"), not its bytes.
inline void PrintTo(const CommandRange& range, std::ostream* out) {
  *out << "commands " << range.first << " to " << range.last;
}

}  // namespace easgate::agent
