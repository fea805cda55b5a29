#include "common/files/sync_to_disk.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace easgate::files {
namespace {

Result<void, FileError> syncPath(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    return FileError{FileErrc::kSync,
                     "cannot open " + path.string() + " to flush it: " + std::strerror(errno)};
  }
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) {
    return FileError{FileErrc::kSync,
                     "cannot flush " + path.string() + " to disk: " + std::strerror(saved)};
  }
  return {};
}

}  // namespace

Result<void, FileError> syncFileToDisk(const std::filesystem::path& file) {
  return syncPath(file, O_RDONLY);
}

Result<void, FileError> syncDirectoryToDisk(const std::filesystem::path& directory) {
  return syncPath(directory.empty() ? std::filesystem::path(".") : directory,
                  O_RDONLY | O_DIRECTORY);
}

}  // namespace easgate::files
