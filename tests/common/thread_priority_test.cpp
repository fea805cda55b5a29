// A thread's priority: lowered for that thread alone.
#include "common/threads/priority.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

namespace easgate::threads {
namespace {

TEST(ThreadPriority, ALoweredThreadIsBelowNormalAndNoOtherIs) {
  if (thisThreadPriority() != Priority::kNormal) {
    GTEST_SKIP() << "SKIPPED: the tests themselves run below normal priority (under `nice`?), so "
                    "a lowered thread cannot be told from the others";
  }
  Priority lowered = Priority::kNormal;
  Priority started_by_it = Priority::kNormal;
  std::thread([&] {
    ASSERT_TRUE(setThisThreadPriority(Priority::kBelowNormal));
    lowered = thisThreadPriority();
    std::thread([&] { started_by_it = thisThreadPriority(); }).join();
  }).join();
  EXPECT_EQ(lowered, Priority::kBelowNormal);
#if defined(__linux__)
  // Linux passes a thread's nice value on to the threads it starts (Windows does not: a harvest
  // sets its workers' itself, which the agent loop's test checks).
  EXPECT_EQ(started_by_it, Priority::kBelowNormal);
#endif
  EXPECT_EQ(thisThreadPriority(), Priority::kNormal) << "the process's other threads are not";
  Priority later = Priority::kBelowNormal;
  std::thread([&] { later = thisThreadPriority(); }).join();
  EXPECT_EQ(later, Priority::kNormal) << "nor are threads this one starts";
}

// The threads that answer the MDM get the shortest time slice, so that one that wakes takes a
// core from a harvest at once (Linux 6.12 and later); a thread lowered below normal, the harvest's,
// gives it back for the kernel's default.
TEST(ThreadPriority, PromptWakeupsGiveNewThreadsTheShortSliceAndBelowNormalGivesItBack) {
  const auto process_slice = thisThreadTimeSlice();
  if (!process_slice) {
    GTEST_SKIP() << "SKIPPED: this system does not give a thread a time slice of its own (Linux "
                    "6.12 and later do; Windows needs none: a waking thread of higher priority "
                    "takes a core at once)";
  }
  bool preferred = false;
  std::optional<std::chrono::microseconds> own, started, lowered;
  Priority lowered_priority = Priority::kNormal;
  std::thread([&] {
    preferred = preferPromptWakeups();
    own = thisThreadTimeSlice();
    std::thread([&] { started = thisThreadTimeSlice(); }).join();
    std::thread([&] {
      ASSERT_TRUE(setThisThreadPriority(Priority::kBelowNormal));
      lowered = thisThreadTimeSlice();
      lowered_priority = thisThreadPriority();
    }).join();
  }).join();
  ASSERT_TRUE(preferred) << "the kernel refused the short slice";
  EXPECT_EQ(own, kShortTimeSlice);
  EXPECT_EQ(started, kShortTimeSlice) << "a thread started afterwards has it too";
  EXPECT_EQ(lowered, process_slice) << "a thread below normal has the kernel's default back";
  EXPECT_NE(lowered, kShortTimeSlice);
  EXPECT_EQ(lowered_priority, Priority::kBelowNormal) << "and keeps its lower nice value";
  EXPECT_EQ(thisThreadTimeSlice(), process_slice) << "no other thread of the process changed";
}

// The slice is set without touching the nice value: a thread already below normal stays there.
TEST(ThreadPriority, PromptWakeupsKeepALoweredThreadsPriority) {
  if (!thisThreadTimeSlice()) {
    GTEST_SKIP() << "SKIPPED: this system does not give a thread a time slice of its own";
  }
  Priority after = Priority::kNormal;
  std::thread([&] {
    ASSERT_TRUE(setThisThreadPriority(Priority::kBelowNormal));
    ASSERT_TRUE(preferPromptWakeups());
    after = thisThreadPriority();
  }).join();
  EXPECT_EQ(after, Priority::kBelowNormal);
}

}  // namespace
}  // namespace easgate::threads
