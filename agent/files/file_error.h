#pragma once

#include "common/result.h"

namespace easgate::agent {

enum class FileErrc { kOpen, kRead, kWrite, kSync, kRename };
using FileError = Error<FileErrc>;

}  // namespace easgate::agent
