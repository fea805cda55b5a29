#include "agent/store/write_behind.h"

#include <utility>

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace easgate::agent::store {

bool startWriteback(const std::filesystem::path& file) {
#if defined(__linux__)
  // Opened each time: SQLite removes a -wal when its last connection closes and makes a new one
  // after, and a descriptor kept open would push the old one.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // SYNC_FILE_RANGE_WRITE alone: queue the dirty pages for writing, wait for nothing (pages
  // already being written are left to finish), no cache flush of the disk's.
  (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  ::close(fd);
  return true;
#else
  (void)file;
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

void WriteBehind::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [&] { return stopping_; })) {
    lock.unlock();
    for (const auto& file : files_) push_(file);
    lock.lock();
  }
}

}  // namespace easgate::agent::store
