#include "common/files/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "common/files/sync_to_disk.h"
#include "common/text/hex.h"

namespace easgate::files {
namespace {

std::string randomSuffix() {
  std::random_device entropy;
  std::uniform_int_distribution<unsigned long long> pick;
  unsigned long long v = pick(entropy);
  std::string out;
  for (int i = 0; i < 12; ++i, v >>= 4) out.push_back(text::hexDigit(static_cast<unsigned>(v)));
  return out;
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target, std::filesystem::path temporary,
                       std::unique_ptr<std::ofstream> out)
    : target_(std::move(target)), temporary_(std::move(temporary)), out_(std::move(out)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)),
      temporary_(std::move(other.temporary_)),
      out_(std::move(other.out_)),
      done_(other.done_) {
  other.done_ = true;
}

AtomicFile::~AtomicFile() {
  if (done_) return;
  out_.reset();
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

Result<AtomicFile, FileError> AtomicFile::create(const std::filesystem::path& target) {
  std::error_code ec;
  if (std::filesystem::is_directory(target, ec)) {
    return FileError{FileErrc::kOpen, target.string() + " is a directory; name a file to write"};
  }
  std::filesystem::path temporary = target;
  temporary += ".tmp-" + randomSuffix();
  auto out = std::make_unique<std::ofstream>(temporary, std::ios::binary | std::ios::trunc);
  if (!*out) {
    return FileError{FileErrc::kOpen,
                     "cannot create " + temporary.string() + ": " + std::strerror(errno)};
  }
  return AtomicFile(target, std::move(temporary), std::move(out));
}

Result<void, FileError> AtomicFile::commit() {
  out_->flush();
  bool written = static_cast<bool>(*out_);
  out_->close();
  if (!written || out_->fail()) {
    return FileError{FileErrc::kWrite,
                     "cannot write " + target_.string() +
                         " (disk full or the file system failed); nothing was replaced"};
  }
  if (auto synced = syncFileToDisk(temporary_); !synced) return synced.error();
  std::error_code ec;
  std::filesystem::rename(temporary_, target_, ec);
  if (ec) {
    return FileError{FileErrc::kRename,
                     "cannot move the finished file to " + target_.string() + ": " + ec.message()};
  }
  done_ = true;
  return syncDirectoryToDisk(target_.parent_path());
}

Result<void, FileError> writeWholeFile(const std::filesystem::path& target, std::string_view text) {
  auto file = AtomicFile::create(target);
  if (!file) return file.error();
  file.value().stream() << text;
  return file.value().commit();
}

}  // namespace easgate::files
