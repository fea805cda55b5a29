#pragma once

#include "common/result.h"

namespace easgate::files {

enum class FileErrc { kOpen, kRead, kWrite, kSync, kRename };
using FileError = Error<FileErrc>;

}  // namespace easgate::files
