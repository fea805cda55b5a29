#include "common/json/json_value.h"

#include <gtest/gtest.h>

namespace easgate::json {
namespace {

TEST(ParseJson, ReadsEveryKindOfValue) {
  auto v = parseJson(R"( {"s":"a\"b\\\n\u00a7\ud83d\udcf1","i":-42,"big":12345678901234,
                         "d":1.5e3,"t":true,"f":false,"n":null,"a":[1,"x",[]],"o":{}} )");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(*v->find("s")->asString(), "a\"b\\\n§📱");
  EXPECT_EQ(v->find("i")->asInt(), -42);
  EXPECT_EQ(v->find("big")->asInt(), 12345678901234);
  EXPECT_EQ(v->find("d")->asNumber(), 1500.0);
  EXPECT_EQ(v->find("d")->asInt(), 1500);
  EXPECT_EQ(v->find("t")->asBool(), true);
  EXPECT_EQ(v->find("f")->asBool(), false);
  EXPECT_TRUE(v->find("n")->isNull());
  ASSERT_NE(v->find("a")->asArray(), nullptr);
  EXPECT_EQ(v->find("a")->asArray()->size(), 3u);
  EXPECT_TRUE(v->find("o")->isObject());
  EXPECT_EQ(v->find("missing"), nullptr);
}

TEST(ParseJson, KeepsMemberOrder) {
  auto v = parseJson(R"({"z":1,"a":2})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->asObject()->front().first, "z");
}

TEST(ParseJson, RejectsWhatRfc8259Rejects) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "'x'", "\"\t\"", "\"\\x\"", "tru",
        "{\"a\" 1}", "[1 2]", "1 2", "{\"a\":1,\"a\":2}", "NaN", "\"\xC3\x28\""}) {
    EXPECT_FALSE(parseJson(bad).ok()) << bad;
  }
}

TEST(ParseJson, RefusesUnpairedSurrogatesInsteadOfReplacingThem) {
  EXPECT_FALSE(parseJson(R"("\ud800x")").ok()) << "a lone high surrogate";
  EXPECT_FALSE(parseJson(R"("x\udc00")").ok()) << "a lone low surrogate";
  EXPECT_FALSE(parseJson(R"("\ud800\u0041")").ok()) << "a high surrogate before no low one";
  auto pair = parseJson(R"("\ud83d\ude00")");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(*pair->asString(), "\xF0\x9F\x98\x80") << "a pair is one character";
}

TEST(ParseJson, LimitsNestingAndSaysWhere) {
  std::string deep(100, '[');
  auto v = parseJson(deep, 64);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, JsonErrc::kTooDeep);
  auto bad = parseJson("[1, x]");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("byte 4"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace easgate::json
