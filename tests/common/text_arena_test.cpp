#include "common/text/text_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace easgate::text {
namespace {

TEST(TextArena, KeptTextsStayAsTheyWereWhileMoreAreKeptAndTheArenaMoves) {
  TextArena arena;
  std::vector<std::string> originals;
  std::vector<std::string_view> kept;
  // Some 3 MB in texts of every length up to 4,000 bytes, one over a block's size among them.
  for (int i = 0; i < 1500; ++i) {
    originals.push_back(std::string(static_cast<std::size_t>(i * 37 % 4001), 'a' + i % 26) +
                        std::to_string(i));
  }
  originals.push_back(std::string((std::size_t{1} << 20) + 5, 'z'));
  originals.push_back("after the large one");
  for (const auto& o : originals) kept.push_back(arena.keep(o));
  TextArena moved = std::move(arena);
  moved.keep("one more");
  for (std::size_t i = 0; i < originals.size(); ++i) {
    ASSERT_EQ(kept[i], originals[i]) << "text " << i;
    EXPECT_NE(static_cast<const void*>(kept[i].data()),
              static_cast<const void*>(originals[i].data()))
        << "a copy, not the caller's text";
  }
  EXPECT_TRUE(moved.keep("").empty());
  // The arena moved from starts again, as a new one.
  EXPECT_EQ(arena.keep("again"), "again");  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_EQ(arena.keepShared("iPhone"), "iPhone");
}

TEST(TextArena, ASharedTextIsKeptOnce) {
  TextArena arena;
  std::string type = "iPhone";
  const std::string_view first = arena.keepShared(type);
  type[0] = 'X';  // the caller's text changes; the kept one does not
  EXPECT_EQ(first, "iPhone");
  EXPECT_EQ(arena.keepShared("iPhone").data(), first.data()) << "the same bytes, not a second copy";
  EXPECT_NE(arena.keepShared("Android").data(), first.data());
  EXPECT_NE(arena.keep("iPhone").data(), first.data()) << "keep() always copies";
}

}  // namespace
}  // namespace easgate::text
