#include "powershell/sim/shared_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace easgate::powershell::sim {

struct SharedState::Handle {
  int fd = -1;
};

Result<std::unique_ptr<SharedState>, std::string> SharedState::open(std::filesystem::path file) {
  const std::string lock = file.string() + ".lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open " + lock + ": " + std::strerror(errno);
  return std::unique_ptr<SharedState>(
      new SharedState(std::move(file), std::make_unique<Handle>(Handle{fd})));
}

SharedState::SharedState(std::filesystem::path file, std::unique_ptr<Handle> handle)
    : file_(std::move(file)), handle_(std::move(handle)) {}

SharedState::~SharedState() {
  if (handle_ && handle_->fd >= 0) ::close(handle_->fd);
}

SharedState::Lock::Lock(SharedState& state) : state_(state) {
  while (::flock(state_.handle_->fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  char text[32] = {};
  const ssize_t n = ::pread(state_.handle_->fd, text, sizeof text - 1, 0);
  generation_ = n > 0 ? std::strtoull(text, nullptr, 10) : 0;
}

void SharedState::Lock::changed() {
  ++generation_;
  const std::string text = std::to_string(generation_) + "\n";
  if (::pwrite(state_.handle_->fd, text.data(), text.size(), 0) < 0) {
    // The next holder then sees an older count and may keep a stale copy: say so loudly.
    std::perror("easgate-exchange-sim: cannot record a change in the shared state's lock file");
  }
}

SharedState::Lock::~Lock() { ::flock(state_.handle_->fd, LOCK_UN); }

}  // namespace easgate::powershell::sim
