#include "common/text/case_fold.h"

#include <gtest/gtest.h>

namespace easgate::text {
namespace {

TEST(CaseFold, NamesCompareWithoutCaseBeyondAscii) {
  EXPECT_EQ(foldCase("Ann.Berg@Contoso.COM"), "ann.berg@contoso.com");
  EXPECT_EQ(foldCase("ZOË ÜNAL"), foldCase("zoë ünal"));
  EXPECT_EQ(foldCase("ŁUKASZ ŻÓŁW"), "łukasz żółw") << "Latin Extended-A";
  EXPECT_EQ(foldCase("ΣΟΦΊΑ"), foldCase("σοφία")) << "Greek";
  EXPECT_EQ(foldCase("ОЛЬГА ЁЛКИНА"), "ольга ёлкина") << "Cyrillic";
  EXPECT_EQ(foldCase("ＡＢＣ"), "ａｂｃ") << "full-width";
  EXPECT_EQ(foldCase("Straße"), foldCase("STRAẞE")) << "capital sharp s folds to ß";
  EXPECT_NE(foldCase("ann"), foldCase("anna"));
}

TEST(CaseFold, KeepsWhatItDoesNotFoldAndBrokenBytes) {
  EXPECT_EQ(foldCase("李雷 123 ☃"), "李雷 123 ☃");
  const std::string broken = "AB\xFF\xC3";
  EXPECT_EQ(foldCase(broken), "ab\xFF\xC3");
}

TEST(CaseFold, FindsInvisibleFormatCharacters) {
  for (char32_t c : {0x202E, 0x200B, 0x200D, 0xFEFF, 0x2066, 0x00AD}) {
    EXPECT_TRUE(isFormatCharacter(c)) << std::hex << static_cast<unsigned>(c);
  }
  for (char32_t c : {U'a', U'ë', U'§', U' ', U'李'}) EXPECT_FALSE(isFormatCharacter(c));
}

}  // namespace
}  // namespace easgate::text
