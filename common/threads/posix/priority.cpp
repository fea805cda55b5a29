#include "common/threads/priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
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

// The kernel's struct sched_attr as every kernel since 3.14 takes it (its first size). The C
// library before glibc 2.41 neither declares it nor wraps the calls; linux/sched/types.h
// clashes with its struct sched_param.
struct SchedAttr {
  std::uint32_t size = sizeof(SchedAttr);
  std::uint32_t sched_policy = 0;
  std::uint64_t sched_flags = 0;
  std::int32_t sched_nice = 0;
  std::uint32_t sched_priority = 0;
  std::uint64_t sched_runtime = 0;  // a fair thread's time slice in ns (Linux 6.12), 0: default
  std::uint64_t sched_deadline = 0;
  std::uint64_t sched_period = 0;
};
static_assert(sizeof(SchedAttr) == 48, "SCHED_ATTR_SIZE_VER0");
constexpr std::uint64_t kKeepPolicy = 0x08;  // SCHED_FLAG_KEEP_POLICY (Linux 5.3)

// Sets the calling thread's time slice (0: the kernel's default), keeping its policy and nice
// value (which sched_setattr would otherwise set too).
bool setThisThreadTimeSlice(std::chrono::nanoseconds slice) {
  const auto nice = thisThreadNice();
  if (!nice) return false;
  SchedAttr attr;
  attr.sched_flags = kKeepPolicy;
  attr.sched_nice = *nice;
  attr.sched_runtime = static_cast<std::uint64_t>(slice.count());
  return ::syscall(SYS_sched_setattr, 0, &attr, 0u) == 0;
}

}  // namespace

// On Linux a nice value belongs to a thread (the kernel's task), named by its thread id.
bool setThisThreadPriority(Priority priority) {
  const bool below = priority == Priority::kBelowNormal;
  // A thread that waits anyway takes no core early from the others: the default slice.
  if (below) (void)setThisThreadTimeSlice(std::chrono::nanoseconds(0));
  const int nice = below ? kBelowNormalNice : 0;
  // Already as low (an agent started under `nice`): raising it would need a privilege.
  if (const auto now = thisThreadNice(); below && now && *now >= nice) return true;
  return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) == 0;
}

Priority thisThreadPriority() {
  const auto nice = thisThreadNice();
  return nice && *nice > 0 ? Priority::kBelowNormal : Priority::kNormal;
}

bool preferPromptWakeups() {
  // Kernels before 6.12 take the call and ignore the slice: only what it reads back counts.
  return setThisThreadTimeSlice(kShortTimeSlice) && thisThreadTimeSlice() == kShortTimeSlice;
}

std::optional<std::chrono::microseconds> thisThreadTimeSlice() {
  SchedAttr attr;
  if (::syscall(SYS_sched_getattr, 0, &attr, static_cast<unsigned>(sizeof attr), 0u) != 0) {
    return std::nullopt;
  }
  if (attr.sched_runtime == 0) return std::nullopt;  // before 6.12: not said for a fair thread
  return std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::nanoseconds(attr.sched_runtime));
}

#else

// Elsewhere setpriority() names the whole process: nothing is changed.
bool setThisThreadPriority(Priority priority) { return priority == Priority::kNormal; }
Priority thisThreadPriority() { return Priority::kNormal; }
bool preferPromptWakeups() { return false; }
std::optional<std::chrono::microseconds> thisThreadTimeSlice() { return std::nullopt; }

#endif

}  // namespace easgate::threads
