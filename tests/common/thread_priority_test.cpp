// A thread's priority: lowered for that thread alone.
#include "common/threads/priority.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace easgate::threads
