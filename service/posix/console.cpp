#include "service/console.h"

#include <unistd.h>

namespace easgate::service {

bool isTerminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

std::filesystem::path defaultDataDirectory() { return "/var/lib/easgate"; }

}  // namespace easgate::service
