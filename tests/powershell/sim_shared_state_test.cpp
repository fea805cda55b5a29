// The shared organisation's log (powershell/sim/shared_state.h): every process reads each
// change once, in order, and a line a dying process left half-written is nobody's change.
#include <gtest/gtest.h>

#include <fstream>

#include "powershell/sim/shared_state.h"
#include "tests/support/scratch.h"

namespace easgate::powershell::sim {
namespace {

class SharedStateTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  void clear() {
    std::filesystem::remove(file_);
    std::filesystem::remove(file_.string() + ".lock");
  }
  std::unique_ptr<SharedState> open() {
    auto opened = SharedState::open(file_);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error());
    return opened.ok() ? std::move(opened).value() : nullptr;
  }
  std::vector<std::string> read(SharedState& state) {
    SharedState::Lock lock(state);
    auto lines = state.read(lock);
    EXPECT_TRUE(lines.ok()) << (lines.ok() ? "" : lines.error());
    return lines.ok() ? lines.value() : std::vector<std::string>{};
  }
  bool append(SharedState& state, const std::string& line) {
    SharedState::Lock lock(state);
    return state.append(lock, line).ok();
  }
  const std::filesystem::path file_ = testing::scratchPath("shared-state", ".log");
};

using Lines = std::vector<std::string>;

TEST_F(SharedStateTest, EveryProcessReadsEachLineOnceInOrder) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(read(*first), Lines{}) << "a new log holds nothing";
  ASSERT_TRUE(append(*first, "origin"));
  EXPECT_EQ(read(*second), Lines{"origin"});
  ASSERT_TRUE(append(*second, "change 1"));
  ASSERT_TRUE(append(*second, "change 2"));
  EXPECT_EQ(read(*first), (Lines{"change 1", "change 2"})) << "not its own origin again";
  EXPECT_EQ(read(*first), Lines{});
  EXPECT_EQ(read(*second), Lines{}) << "not its own changes";

  auto later = open();  // a process joining later reads everything
  ASSERT_TRUE(later);
  EXPECT_EQ(read(*later), (Lines{"origin", "change 1", "change 2"}));
}

TEST_F(SharedStateTest, HasNewsUntilEveryLineIsReadAndNeverForItsOwnLines) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(append(*first, "origin"));
  EXPECT_FALSE(first->hasNews()) << "its own line";
  EXPECT_TRUE(second->hasNews());
  EXPECT_EQ(read(*second), Lines{"origin"});
  EXPECT_FALSE(second->hasNews());
  {
    std::ofstream out(file_, std::ios::binary | std::ios::app);
    out << "change 1 that a process is still writ";
  }
  EXPECT_TRUE(first->hasNews()) << "a line begun is news: the reader cuts it off under the lock";
}

TEST_F(SharedStateTest, AnUnfinishedLastLineIsCutOffAndNeverRead) {
  {
    std::ofstream out(file_, std::ios::binary);
    out << "origin\r\nchange 1\nchange 2 that a dying process began";
  }
  auto state = open();
  ASSERT_TRUE(state);
  EXPECT_EQ(read(*state), (Lines{"origin", "change 1"}));
  EXPECT_EQ(std::filesystem::file_size(file_), std::string("origin\r\nchange 1\n").size());
  ASSERT_TRUE(append(*state, "change 2"));
  auto later = open();
  ASSERT_TRUE(later);
  EXPECT_EQ(read(*later), (Lines{"origin", "change 1", "change 2"}));
}

TEST_F(SharedStateTest, AppendingOverChangesNotYetReadIsRefused) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(append(*first, "origin"));
  EXPECT_FALSE(append(*second, "change 1")) << "it would be made on an organisation out of date";
  EXPECT_EQ(read(*second), Lines{"origin"});
  EXPECT_TRUE(append(*second, "change 1"));
}

}  // namespace
}  // namespace easgate::powershell::sim
