#include "common/text/utf.h"

#include <gtest/gtest.h>

namespace easgate::text {
namespace {

using namespace std::string_literals;

TEST(DecodeToUtf8, PassesPlainUtf8Through) {
  SourceEncoding seen{};
  auto out = decodeToUtf8("<Objs>§</Objs>", &seen);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<Objs>§</Objs>");
  EXPECT_EQ(seen, SourceEncoding::kUtf8);
}

TEST(DecodeToUtf8, StripsTheUtf8ByteOrderMark) {
  SourceEncoding seen{};
  auto out = decodeToUtf8("\xEF\xBB\xBF<Objs/>", &seen);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<Objs/>");
  EXPECT_EQ(seen, SourceEncoding::kUtf8Bom);
}

TEST(DecodeToUtf8, ConvertsUtf16LittleEndianWithBomIncludingSurrogatePairs) {
  // "<a>" U+00A7 U+1F4F1 in UTF-16LE with a BOM, as Windows PowerShell 5.1 writes files.
  std::string bytes = "\xFF\xFE<\0a\0>\0\xA7\0\x3D\xD8\xF1\xDC"s;
  SourceEncoding seen{};
  auto out = decodeToUtf8(bytes, &seen);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out.value(), "<a>\xC2\xA7\xF0\x9F\x93\xB1");
  EXPECT_EQ(seen, SourceEncoding::kUtf16Le);
}

TEST(DecodeToUtf8, ConvertsUtf16BigEndianWithBom) {
  auto out = decodeToUtf8("\xFE\xFF\0<\0a"s);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<a");
}

TEST(DecodeToUtf8, RecognisesUtf16WithoutBomByItsLeadingAngleBracket) {
  auto out = decodeToUtf8("<\0O\0"s);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<O");
}

TEST(DecodeToUtf8, RejectsAnUnpairedSurrogateWithItsOffset) {
  auto out = decodeToUtf8("\xFF\xFE<\0\x3D\xD8<\0"s);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("unpaired UTF-16 surrogate at byte offset 4"),
            std::string::npos)
      << out.error().message;
}

TEST(DecodeToUtf8, RejectsUtf16WithAnOddByteCount) {
  auto out = decodeToUtf8("\xFF\xFE<\0a"s);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("odd number of bytes"), std::string::npos);
}

TEST(DecodeToUtf8, RejectsInvalidUtf8WithItsOffset) {
  auto out = decodeToUtf8("<Objs>\xC3\x28</Objs>");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("invalid UTF-8 at byte offset 6"), std::string::npos)
      << out.error().message;
}

TEST(IsValidUtf8, RejectsOverlongsSurrogatesAndOutOfRange) {
  EXPECT_TRUE(isValidUtf8("plain ascii text that is long enough for the fast path"));
  EXPECT_TRUE(isValidUtf8("\xF4\x8F\xBF\xBF"));   // U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));          // truncated
}

TEST(AppendUtf8, EncodesEveryLengthAndReplacesSurrogates) {
  std::string out;
  appendUtf8(out, U'A');
  appendUtf8(out, 0xA7);
  appendUtf8(out, 0x20AC);
  appendUtf8(out, 0x1F4F1);
  appendUtf8(out, 0xD800);
  EXPECT_EQ(out, "A\xC2\xA7\xE2\x82\xAC\xF0\x9F\x93\xB1\xEF\xBF\xBD");
}

}  // namespace
}  // namespace easgate::text
