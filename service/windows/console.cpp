#include "service/console.h"

#include <io.h>

#include <cstdlib>

namespace easgate::service {

bool isTerminal(std::FILE* stream) { return ::_isatty(::_fileno(stream)) != 0; }

std::filesystem::path defaultDataDirectory() {
  const char* program_data = std::getenv("ProgramData");
  return std::filesystem::path(program_data && *program_data ? program_data : "C:\\ProgramData") /
         "easgate";
}

}  // namespace easgate::service
