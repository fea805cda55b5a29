#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace easgate::powershell::sim {

// One organisation shared by several simulator processes, as one Exchange organisation is
// shared by every session of a bridge pool: the organisation lives in a file, and a request
// runs under an exclusive lock on `<file>.lock`, whose content counts the changes. A process
// reloads the file when another changed it since, and saves it after a change of its own.
class SharedState {
 public:
  static Result<std::unique_ptr<SharedState>, std::string> open(std::filesystem::path file);
  ~SharedState();

  // Holds the lock for one request. `generation()` says how many changes the file has seen.
  class Lock {
   public:
    explicit Lock(SharedState& state);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    std::uint64_t generation() const { return generation_; }
    // After a change saved to the file: the next holder reloads it.
    void changed();

   private:
    SharedState& state_;
    std::uint64_t generation_ = 0;
  };

  const std::filesystem::path& file() const { return file_; }

 private:
  struct Handle;  // the platform's lock file
  SharedState(std::filesystem::path file, std::unique_ptr<Handle> handle);
  std::filesystem::path file_;
  std::unique_ptr<Handle> handle_;
};

}  // namespace easgate::powershell::sim
