#include "common/files/sync_to_disk.h"

#include <windows.h>

#include <string>

namespace easgate::files {

Result<void, FileError> syncFileToDisk(const std::filesystem::path& file) {
  HANDLE handle = ::CreateFileW(file.c_str(), GENERIC_WRITE, FILE_SHARE_READ, nullptr,
                                OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (handle == INVALID_HANDLE_VALUE) {
    return FileError{FileErrc::kSync, "cannot open " + file.string() + " to flush it (error " +
                                          std::to_string(::GetLastError()) + ")"};
  }
  BOOL flushed = ::FlushFileBuffers(handle);
  DWORD error = ::GetLastError();
  ::CloseHandle(handle);
  if (!flushed) {
    return FileError{FileErrc::kSync, "cannot flush " + file.string() + " to disk (error " +
                                          std::to_string(error) + ")"};
  }
  return {};
}

// NTFS makes a rename durable with the file's own flush; there is no directory handle to sync.
Result<void, FileError> syncDirectoryToDisk(const std::filesystem::path&) { return {}; }

}  // namespace easgate::files
