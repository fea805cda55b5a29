#include "agent/store/write_behind.h"

#include <utility>

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace easgate::agent::store {
namespace {

#if defined(__linux__)
// SYNC_FILE_RANGE_WRITE alone: queue the dirty pages for writing, wait for nothing (pages
// already being written are left to finish), no cache flush of the disk's.
void writeBack(int fd) { (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }
#endif

}  // namespace

bool startWriteback(const std::filesystem::path& file) {
#if defined(__linux__)
  // Opened each time: SQLite removes a -wal when its last connection closes and makes a new one
  // after, and a descriptor kept open would push the old one.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  writeBack(fd);
  ::close(fd);
  return true;
#else
  (void)file;
  return false;
#endif
}

HeldFile::HeldFile(const std::filesystem::path& file) {
#if defined(__linux__)
  fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
#else
  (void)file;
#endif
}

HeldFile::~HeldFile() {
#if defined(__linux__)
  if (fd_ >= 0) ::close(fd_);
#endif
}

bool HeldFile::push() const {
#if defined(__linux__)
  if (fd_ < 0) return false;
  writeBack(fd_);
  return true;
#else
  return false;
#endif
}

bool WriteBehind::supported() {
#if defined(__linux__)
  return true;
#else
  return false;
#endif
}

WriteBehind::WriteBehind(std::vector<std::filesystem::path> files, std::chrono::milliseconds period,
                         Push push)
    : files_(std::move(files)),
      period_(period),
      push_(std::move(push)),
      thread_([this] { run(); }) {}

WriteBehind::~WriteBehind() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

WriteBehind::Writing::Writing(WriteBehind& behind) : behind_(behind) {
  {
    std::lock_guard lock(behind_.mutex_);
    ++behind_.writing_;
  }
  behind_.wake_.notify_all();
}

WriteBehind::Writing::~Writing() {
  std::lock_guard lock(behind_.mutex_);
  --behind_.writing_;
  behind_.wrote_ = true;  // what it wrote last is pushed a period from now
}

void WriteBehind::wrote() {
  {
    std::lock_guard lock(mutex_);
    wrote_ = true;
  }
  wake_.notify_all();
}

void WriteBehind::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || writing_ > 0 || wrote_; });
    // Something is being written, or was: its pages are pushed a period from now. What is
    // written during that period sets wrote_ again, and is pushed a period after.
    wrote_ = false;
    if (wake_.wait_for(lock, period_, [&] { return stopping_; })) return;
    lock.unlock();
    for (const auto& file : files_) push_(file);
    lock.lock();
  }
}

}  // namespace easgate::agent::store
