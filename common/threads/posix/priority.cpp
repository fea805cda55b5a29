#include "common/threads/priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace easgate::threads {

#if defined(__linux__)

namespace {

constexpr int kBelowNormalNice = 10;

// The calling thread's nice value; nullopt when it cannot be read.
std::optional<int> thisThreadNice() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  if (errno != 0) return std::nullopt;
  return nice;
}

}  // namespace

// On Linux a nice value belongs to a thread (the kernel's task), named by its thread id.
bool setThisThreadPriority(Priority priority) {
  const int nice = priority == Priority::kBelowNormal ? kBelowNormalNice : 0;
  // Already as low (an agent started under `nice`): raising it would need a privilege.
  if (const auto now = thisThreadNice();
      priority == Priority::kBelowNormal && now && *now >= nice) {
    return true;
  }
  return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) == 0;
}

Priority thisThreadPriority() {
  const auto nice = thisThreadNice();
  return nice && *nice > 0 ? Priority::kBelowNormal : Priority::kNormal;
}

#else

// Elsewhere setpriority() names the whole process: nothing is changed.
bool setThisThreadPriority(Priority priority) { return priority == Priority::kNormal; }
Priority thisThreadPriority() { return Priority::kNormal; }

#endif

}  // namespace easgate::threads
