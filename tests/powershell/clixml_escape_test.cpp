#include "powershell/clixml/escape.h"

#include <gtest/gtest.h>

namespace easgate::powershell::escape {
namespace {

using namespace std::string_literals;

TEST(Decode, ReplacesEscapedCodeUnitsInEitherCase) {
  EXPECT_EQ(decode("a_x000D__x000A_b"), "a\r\nb");
  EXPECT_EQ(decode("tab_X0009_"), "tab\t");
  EXPECT_EQ(decode("_x00a7_"), "§");
  EXPECT_EQ(decode("_x0000_"), "\0"s);
}

TEST(Decode, JoinsSurrogatePairsAndReplacesHalves) {
  EXPECT_EQ(decode("_xD83D__xDCF1_"), "📱");
  EXPECT_EQ(decode("_xD83D_x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(decode("_xDCF1_"), "\xEF\xBF\xBD");
}

TEST(Decode, LeavesTextThatOnlyLooksLikeAnEscape) {
  EXPECT_EQ(decode("snake_case_x"), "snake_case_x");
  EXPECT_EQ(decode("_x12_"), "_x12_");
  EXPECT_EQ(decode("_xGGGG_"), "_xGGGG_");
  EXPECT_EQ(decode("_x0041"), "_x0041");
  // An escaped underscore before text that looks like an escape: the text stays literal.
  EXPECT_EQ(decode("_x005F_x0041_"), "_x0041_");
}

TEST(Encode, EscapesWhatPowerShellEscapes) {
  std::string out;
  appendEncoded(out,
                "a\r\n\t\x7F"
                "b",
                false);
  EXPECT_EQ(out, "a_x000D__x000A__x0009__x007F_b");
  out.clear();
  appendEncoded(out, "\xC2\x85 and \xC2\xA7", false);  // C1 control NEL is escaped, § is not
  EXPECT_EQ(out, "_x0085_ and §");
  out.clear();
  appendEncoded(out, "📱", false);
  EXPECT_EQ(out, "_xD83D__xDCF1_");
  out.clear();
  appendEncoded(out, "_x0041_ and _y", false);
  EXPECT_EQ(out, "_x005F_x0041_ and _y");
}

TEST(Encode, AppliesXmlEscapingOnTop) {
  std::string out;
  appendEncoded(out, "<a & \"b\">", false);
  EXPECT_EQ(out, "&lt;a &amp; \"b\"&gt;");
  out.clear();
  appendEncoded(out, "<a & \"b\">", true);
  EXPECT_EQ(out, "&lt;a &amp; &quot;b&quot;&gt;");
}

TEST(EncodeDecode, RoundTripsEveryKindOfText) {
  for (std::string text : {"plain"s, "_x0041_"s, "_X_x"s, "tab\there"s, "📱§€"s, "\0nul"s,
                           "\xC2\x80\xC2\x9F\xC2\xA0"s, "ends with _"s}) {
    std::string encoded;
    appendEncoded(encoded, text, false);
    EXPECT_EQ(decode(encoded), text) << encoded;
  }
}

}  // namespace
}  // namespace easgate::powershell::escape
