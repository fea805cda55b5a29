// The handoff between a harvest's reading thread and its storing thread: every item arrives,
// in order, on the other thread, and a reader faster than the store waits instead of piling up.
#include "agent/harvest/handoff.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace easgate::agent {
namespace {

TEST(Handoff, EveryItemArrivesOnceInOrderOnTheConsumersThread) {
  std::vector<int> got;
  std::vector<std::size_t> batch_sizes;
  std::thread::id consumer;
  {
    Handoff<int> handoff(4, 2, [&](std::vector<int>& batch) {
      consumer = std::this_thread::get_id();
      batch_sizes.push_back(batch.size());
      got.insert(got.end(), batch.begin(), batch.end());
    });
    for (int i = 0; i < 10; ++i) handoff.push(i);
    handoff.finish();
    // Everything is consumed once finish() returns: what follows reads the results.
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  EXPECT_NE(consumer, std::this_thread::get_id());
  EXPECT_EQ(batch_sizes, (std::vector<std::size_t>{4, 4, 2}));  // the last one partial
}

TEST(Handoff, NothingPushedConsumesNothingAndFinishingTwiceIsHarmless) {
  int calls = 0;
  Handoff<std::string> handoff(8, 1, [&](std::vector<std::string>&) { ++calls; });
  handoff.finish();
  handoff.finish();
  EXPECT_EQ(calls, 0);
}

TEST(Handoff, ADestroyedHandoffHandsOnWhatWasLeft) {
  std::vector<std::string> got;
  {
    Handoff<std::string> handoff(100, 1, [&](std::vector<std::string>& batch) {
      got.insert(got.end(), batch.begin(), batch.end());
    });
    handoff.push("a");
    handoff.push("b");
  }  // as when the reading stops early: the destructor finishes
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
}

TEST(Handoff, AReaderAheadOfTheConsumerWaitsOnceTheBoundIsReached) {
  // The consumer is held on its first batch: the producer may fill that one, `waiting` more,
  // and the one it is building, and must then wait, however many it has left to push.
  constexpr std::size_t kBatch = 3;
  constexpr std::size_t kWaiting = 2;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<int> got;
  std::vector<std::size_t> waited_at;
  bool held = false;  // the consumer's own
  Handoff<int> handoff(kBatch, kWaiting, [&](std::vector<int>& batch) {
    // Held on its first batch. The wait is bounded only so that a handoff that never makes the
    // producer wait fails instead of hanging.
    if (!std::exchange(held, true)) released.wait_for(std::chrono::seconds(10));
    got.insert(got.end(), batch.begin(), batch.end());
  });
  bool released_once = false;
  handoff.onWaitForTest([&](std::size_t pushed) {
    waited_at.push_back(pushed);
    if (!released_once) {
      released_once = true;
      release.set_value();
    }
  });
  for (int i = 0; i < 30; ++i) handoff.push(i);
  handoff.finish();
  ASSERT_FALSE(waited_at.empty()) << "the producer never waited for a held consumer";
  // At most one batch with the consumer, kWaiting waiting and one full in hand; one fewer when
  // the consumer had not yet taken the first.
  EXPECT_LE(waited_at.front(), kBatch * (kWaiting + 2));
  EXPECT_GE(waited_at.front(), kBatch * (kWaiting + 1));
  std::vector<int> all(30);
  for (int i = 0; i < 30; ++i) all[i] = i;
  EXPECT_EQ(got, all);
}

}  // namespace
}  // namespace easgate::agent
