#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace easgate::powershell::sim {

// One organisation shared by several simulator processes, as one Exchange organisation is
// shared by every session of a bridge pool. The file is a log: its first line says where the
// organisation came from (the first process writes it; the others make the same organisation
// from it), and every further line is one change some process made, in order. Each process
// replays the changes it has not seen before it answers a request, and appends its own. A
// change is a few hundred bytes, whatever the size of the organisation.
//
// Every read and append happens under an exclusive lock on `<file>.lock`; hasNews() only looks at
// the file's size.
class SharedState {
 public:
  static Result<std::unique_ptr<SharedState>, std::string> open(std::filesystem::path file);
  ~SharedState();

  // Holds the lock for one request.
  class Lock {
   public:
    explicit Lock(SharedState& state);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    SharedState& state_;
  };

  // The lines appended since this process last read or appended; the first read of a log
  // begins with its origin line, and finds nothing when the log is new. A last line without
  // its end, left by a process that died while writing it, is not a change anyone saw
  // answered: it is cut off the file.
  Result<std::vector<std::string>, std::string> read(const Lock& held);
  // Whether anything was appended since this process last read or appended, told from the
  // file's size without the lock: a request that changes nothing needs the lock only when there
  // is something to replay (a change still being written is not answered yet, so a read that
  // misses it raced it, as in Exchange).
  bool hasNews() const;
  // Appends one line (without a line break), after everything read.
  Result<void, std::string> append(const Lock& held, const std::string& line);

  const std::filesystem::path& file() const { return file_; }

 private:
  struct Handle;  // the platform's lock file
  SharedState(std::filesystem::path file, std::unique_ptr<Handle> handle);
  std::filesystem::path file_;
  std::unique_ptr<Handle> handle_;
  std::uintmax_t offset_ = 0;  // how much of the file this process has read or written
};

}  // namespace easgate::powershell::sim
