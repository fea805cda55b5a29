// Malformed input: a clear error with its position, never a crash, never a partial result.
#include <gtest/gtest.h>

#include "clixml_test_support.h"
#include "powershell/clixml/reader.h"

namespace easgate::powershell {
namespace {

using testing::objs;
using testing::parseError;

::testing::AssertionResult mentions(const ClixmlError& e, const std::string& text) {
  if (e.message.find(text) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << e.message << "' does not mention '" << text << "'";
}

TEST(ClixmlReaderErrors, NamesTheLineAndColumnOfABadValue) {
  ClixmlError e = parseError("<Objs>\n  <S>ok</S>\n  <I32>twelve</I32>\n</Objs>");
  EXPECT_EQ(e.code, ClixmlErrc::kValue);
  EXPECT_TRUE(mentions(e, "line 3, column 3"));
  EXPECT_TRUE(mentions(e, "\"twelve\""));
}

TEST(ClixmlReaderErrors, RejectsValuesOutOfTheirTypesRange) {
  EXPECT_EQ(parseError(objs("<By>256</By>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<I16>32768</I16>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<C>65536</C>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<B>yes</B>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<DT>2023-02-29T00:00:00Z</DT>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<G>not-a-guid</G>")).code, ClixmlErrc::kValue);
  EXPECT_EQ(parseError(objs("<BA>***</BA>")).code, ClixmlErrc::kValue);
}

TEST(ClixmlReaderErrors, RejectsATruncatedDocumentInsteadOfReturningWhatItRead) {
  std::string whole = objs("<S>a</S><Obj RefId=\"0\"><Props><S N=\"x\">y</S></Props></Obj>");
  for (std::size_t cut : {whole.size() - 1, whole.size() - 7, whole.size() - 20, std::size_t{10}}) {
    ClixmlError e = parseError(whole.substr(0, cut));
    EXPECT_TRUE(e.code == ClixmlErrc::kTruncated || e.code == ClixmlErrc::kSyntax)
        << cut << ": " << e.message;
  }
  EXPECT_TRUE(mentions(parseError(objs("<S>a</S>").substr(0, 90)), "truncated"));
}

TEST(ClixmlReaderErrors, RejectsMismatchedTags) {
  EXPECT_EQ(parseError(objs("<Obj RefId=\"0\"><Props></LST></Obj>")).code, ClixmlErrc::kSyntax);
  EXPECT_EQ(parseError("<Objs><S>a</S></Other>").code, ClixmlErrc::kSyntax);
}

TEST(ClixmlReaderErrors, SaysWhatIsWrongWithATagInsideAValue) {
  // The scanner finds a value's end tag by tag; a tag it cannot end is explained, not skipped.
  ClixmlError inside = parseError(objs("<Obj RefId=\"0\"><MS><S N=\"a\" <S>x</S></MS></Obj>"));
  EXPECT_EQ(inside.code, ClixmlErrc::kSyntax);
  EXPECT_TRUE(mentions(inside, "'<' inside a tag"));
  ClixmlError quote = parseError("<Objs><Obj RefId=\"0\"><MS><S N=\"open>x</S></MS></Obj></Objs>");
  EXPECT_EQ(quote.code, ClixmlErrc::kTruncated);
  EXPECT_TRUE(mentions(quote, "ends inside a tag"));
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"><!DOCTYPE x></Obj>")), "DOCTYPE"));
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"><!-- open </Obj>")), "comment"));
}

TEST(ClixmlReaderErrors, RejectsADoctypeSoNoEntityIsEverExpanded) {
  ClixmlError e = parseError("<!DOCTYPE Objs [<!ENTITY lol \"lol\">]>" + objs("<S>&lol;</S>"));
  EXPECT_EQ(e.code, ClixmlErrc::kStructure);
  EXPECT_TRUE(mentions(e, "DOCTYPE"));
}

TEST(ClixmlReaderErrors, RejectsDocumentsThatAreNotClixml) {
  EXPECT_TRUE(mentions(parseError("<html><body/></html>"), "expected <Objs>"));
  EXPECT_TRUE(mentions(parseError("DeviceId,DeviceType\nabc,iPhone\n"), "not a CLIXML document"));
  EXPECT_TRUE(mentions(parseError(""), "not a CLIXML document"));
  EXPECT_TRUE(mentions(parseError(objs("<S>a</S>") + "<S>b</S>"), "after </Objs>"));
  EXPECT_TRUE(mentions(parseError(objs("stray text <S>a</S>")), "text between values"));
}

TEST(ClixmlReaderErrors, RejectsUnknownElementsRatherThanDroppingData) {
  EXPECT_TRUE(mentions(parseError(objs("<Q>1</Q>")), "<Q> is not a CLIXML value element"));
  EXPECT_TRUE(
      mentions(parseError(objs("<Obj RefId=\"0\"><Extra/></Obj>")), "<Extra> is not allowed"));
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"><TN><X/></TN></Obj>")), "expected <T>"));
  EXPECT_TRUE(mentions(parseError(objs("<S>a<B>true</B></S>")), "holds text only"));
}

TEST(ClixmlReaderErrors, RejectsPropertiesWithoutNames) {
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"><Props><S>x</S></Props></Obj>")),
                       "no N (name) attribute"));
}

TEST(ClixmlReaderErrors, RejectsReferencesToNothingOrToAnEnclosingObject) {
  EXPECT_TRUE(mentions(parseError(objs("<Ref RefId=\"7\" />")), "refers to no earlier <Obj>"));
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"><TNRef RefId=\"3\" /></Obj>")),
                       "refers to no earlier <TN>"));
  EXPECT_TRUE(mentions(
      parseError(objs("<Obj RefId=\"0\"><Props><Ref N=\"self\" RefId=\"0\" /></Props></Obj>")),
      "cyclic"));
  EXPECT_TRUE(mentions(parseError(objs("<Obj RefId=\"0\"></Obj><Obj RefId=\"0\"></Obj>")),
                       "defined twice"));
}

TEST(ClixmlReaderErrors, RejectsMalformedDictionaryEntries) {
  EXPECT_TRUE(
      mentions(parseError(objs("<Obj RefId=\"0\"><DCT><En><S N=\"Key\">a</S></En></DCT></Obj>")),
               "without its Key or Value"));
  EXPECT_TRUE(
      mentions(parseError(objs("<Obj RefId=\"0\"><DCT><X/></DCT></Obj>")), "expected <En>"));
}

TEST(ClixmlReaderErrors, RejectsHostileNestingWithoutExhaustingTheStack) {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<Obj><LST>";
  for (int i = 0; i < 5000; ++i) deep += "</LST></Obj>";
  EXPECT_TRUE(mentions(parseError(objs(deep)), "nested deeper"));
}

TEST(ClixmlReaderErrors, KeepsFailingAfterTheFirstError) {
  auto reader = ClixmlReader::fromBytes(objs("<S>a</S><I32>x</I32><S>c</S>"));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(reader->next().ok());
  auto bad = reader->next();
  ASSERT_FALSE(bad.ok());
  auto again = reader->next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, bad.error().message);
}

TEST(ClixmlReaderErrors, RejectsBytesThatAreNotText) {
  auto reader = ClixmlReader::fromBytes("<Objs>\xFF\xFF</Objs>");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.error().code, ClixmlErrc::kEncoding);
}

}  // namespace
}  // namespace easgate::powershell
