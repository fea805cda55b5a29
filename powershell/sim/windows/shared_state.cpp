#include "powershell/sim/shared_state.h"

#include <windows.h>

namespace easgate::powershell::sim {

struct SharedState::Handle {
  HANDLE file = INVALID_HANDLE_VALUE;
};

Result<std::unique_ptr<SharedState>, std::string> SharedState::open(std::filesystem::path file) {
  const std::wstring lock = file.wstring() + L".lock";
  HANDLE h =
      CreateFileW(lock.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                  nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    return "cannot open " + file.string() + ".lock: error " + std::to_string(GetLastError());
  }
  return std::unique_ptr<SharedState>(
      new SharedState(std::move(file), std::make_unique<Handle>(Handle{h})));
}

SharedState::SharedState(std::filesystem::path file, std::unique_ptr<Handle> handle)
    : file_(std::move(file)), handle_(std::move(handle)) {}

SharedState::~SharedState() {
  if (handle_ && handle_->file != INVALID_HANDLE_VALUE) CloseHandle(handle_->file);
}

SharedState::Lock::Lock(SharedState& state) : state_(state) {
  OVERLAPPED whole = {};
  LockFileEx(state_.handle_->file, LOCKFILE_EXCLUSIVE_LOCK, 0, MAXDWORD, MAXDWORD, &whole);
}

SharedState::Lock::~Lock() {
  OVERLAPPED whole = {};
  UnlockFileEx(state_.handle_->file, 0, MAXDWORD, MAXDWORD, &whole);
}

}  // namespace easgate::powershell::sim
