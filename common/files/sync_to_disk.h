#pragma once

#include <filesystem>

#include "common/files/file_error.h"

namespace easgate::files {

// Flushes a written file's data to stable storage, so a crash after this call cannot lose it.
Result<void, FileError> syncFileToDisk(const std::filesystem::path& file);

// Makes a directory's entries (a rename into it) durable where the platform needs it.
Result<void, FileError> syncDirectoryToDisk(const std::filesystem::path& directory);

}  // namespace easgate::files
