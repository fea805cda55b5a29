#include "common/json/json_writer.h"

#include <gtest/gtest.h>

#include "common/json/json_value.h"

namespace easgate::json {
namespace {

using namespace std::string_literals;

TEST(AppendString, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  appendString(out, "a\"b\\c\nd\te\x01"s + '\0' + "f");
  EXPECT_EQ(out, R"("a\"b\\c\nd\te\u0001\u0000f")");
}

TEST(AppendString, KeepsUnicodeButEscapesJavaScriptLineSeparators) {
  std::string out;
  appendString(out, "§📱\xE2\x80\xA8x\xE2\x80\xA9");
  EXPECT_EQ(out, "\"§📱\\u2028x\\u2029\"");
}

TEST(JsonWriter, PlacesCommasAndColonsInNestedValues) {
  std::string out;
  JsonWriter w(out);
  w.beginObject();
  w.key("a");
  w.number(-5);
  w.key("list");
  w.beginArray();
  w.string("x");
  w.null();
  w.boolean(true);
  w.beginObject();
  w.endObject();
  w.endArray();
  w.endObject();
  EXPECT_EQ(out, R"({"a":-5,"list":["x",null,true,{}]})");
}

}  // namespace
}  // namespace easgate::json

namespace easgate::json {
namespace {

TEST(JsonWriterRaw, PlacesJsonTextAsAValueWithCommasAndColons) {
  std::string out;
  JsonWriter w(out);
  w.beginObject();
  w.key("a");
  w.raw(R"({"x":[1,2]})");
  w.key("b");
  w.number(3);
  w.endObject();
  EXPECT_EQ(out, R"({"a":{"x":[1,2]},"b":3})");
}

}  // namespace
TEST(JsonWriter, NeverWritesBrokenUtf8) {
  std::string out;
  appendString(out, "/v1/\xE3ommands \xFF end \xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(out, "\"/v1/\xEF\xBF\xBDommands \xEF\xBF\xBD end \xC3\xA9 \xF0\x9F\x98\x80\"");
  EXPECT_TRUE(parseJson(out).ok()) << "a JSON parser takes it";
}

}  // namespace easgate::json
