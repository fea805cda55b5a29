#include "service/console.h"

#include <io.h>

namespace easgate::service {

bool isTerminal(std::FILE* stream) { return ::_isatty(::_fileno(stream)) != 0; }

}  // namespace easgate::service
