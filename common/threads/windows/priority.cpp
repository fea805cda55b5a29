#include "common/threads/priority.h"

#include <windows.h>

namespace easgate::threads {

bool setThisThreadPriority(Priority priority) {
  const int level =
      priority == Priority::kBelowNormal ? THREAD_PRIORITY_BELOW_NORMAL : THREAD_PRIORITY_NORMAL;
  return ::SetThreadPriority(::GetCurrentThread(), level) != 0;
}

Priority thisThreadPriority() {
  const int level = ::GetThreadPriority(::GetCurrentThread());
  return level != THREAD_PRIORITY_ERROR_RETURN && level < THREAD_PRIORITY_NORMAL
             ? Priority::kBelowNormal
             : Priority::kNormal;
}

// A waking thread of higher priority takes a core from a lower one at once here.
bool preferPromptWakeups() { return false; }

std::optional<std::chrono::microseconds> thisThreadTimeSlice() { return std::nullopt; }

}  // namespace easgate::threads
