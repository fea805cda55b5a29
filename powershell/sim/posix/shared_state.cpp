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
}

SharedState::Lock::~Lock() { ::flock(state_.handle_->fd, LOCK_UN); }

}  // namespace easgate::powershell::sim
