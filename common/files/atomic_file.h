#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <string_view>

#include "common/files/file_error.h"

namespace easgate::files {

// A file that appears at its path whole or not at all: it is written to a temporary file
// beside the target, flushed to disk, and renamed over the target by commit(). Destroying an
// uncommitted AtomicFile removes the temporary, so a failure never leaves half a file.
class AtomicFile {
 public:
  static Result<AtomicFile, FileError> create(const std::filesystem::path& target);

  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  std::ostream& stream() { return *out_; }

  // Flushes, syncs and renames; after a failure the target is untouched.
  Result<void, FileError> commit();

 private:
  AtomicFile(std::filesystem::path target, std::filesystem::path temporary,
             std::unique_ptr<std::ofstream> out);

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  std::unique_ptr<std::ofstream> out_;
  bool done_ = false;
};

// Writes `text` to `target` through an AtomicFile: the whole text or, after a failure, the
// file as it was.
Result<void, FileError> writeWholeFile(const std::filesystem::path& target, std::string_view text);

}  // namespace easgate::files
