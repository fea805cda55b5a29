// Hexadecimal digits: every byte written in either case reads back as itself, and nothing but
// a digit reads as one (cursors, digests and escapes from the network go through hexValue).
#include "common/text/hex.h"

#include <gtest/gtest.h>

#include <array>

namespace easgate::text {
namespace {

TEST(Hex, EveryByteReadsBackInEitherCase) {
  for (unsigned byte = 0; byte < 256; ++byte) {
    for (HexCase letters : {HexCase::kLower, HexCase::kUpper}) {
      std::string two;
      appendHexByte(two, static_cast<unsigned char>(byte), letters);
      ASSERT_EQ(two.size(), 2u);
      EXPECT_EQ(hexValue(two[0]) * 16 + hexValue(two[1]), static_cast<int>(byte)) << two;
    }
  }
}

TEST(Hex, LettersAreInTheCaseAsked) {
  std::string out;
  const std::array<unsigned char, 4> bytes = {0x00, 0x9f, 0xab, 0xff};
  appendHex(out, bytes);
  EXPECT_EQ(out, "009fabff");
  out.clear();
  appendHex(out, bytes, HexCase::kUpper);
  EXPECT_EQ(out, "009FABFF");
  EXPECT_EQ(hexDigit(0x1c), 'c') << "the low four bits";
}

TEST(Hex, NothingButADigitReadsAsOne) {
  for (char c : std::string("/:@G`g xX-\0", 11)) EXPECT_EQ(hexValue(c), -1) << int(c);
  EXPECT_EQ(hexValue('\xff'), -1);
  EXPECT_EQ(hexValue('F'), 15);
  EXPECT_EQ(hexValue('a'), 10);
}

}  // namespace
}  // namespace easgate::text
