#include "common/threads/priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace easgate::threads {
namespace {

constexpr int kBelowNormalNice = 10;

}  // namespace

#if defined(__linux__)

// On Linux a nice value belongs to a thread (the kernel's task), named by its thread id.
bool setThisThreadPriority(Priority priority) {
  const int nice = priority == Priority::kBelowNormal ? kBelowNormalNice : 0;
  return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) == 0;
}

Priority thisThreadPriority() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  return errno == 0 && nice > 0 ? Priority::kBelowNormal : Priority::kNormal;
}

#else

// Elsewhere setpriority() names the whole process: nothing is changed.
bool setThisThreadPriority(Priority priority) { return priority == Priority::kNormal; }
Priority thisThreadPriority() { return Priority::kNormal; }

#endif

}  // namespace easgate::threads
