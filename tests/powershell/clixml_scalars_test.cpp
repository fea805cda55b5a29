#include "common/time/utc_time.h"
#include "powershell/clixml/scalars.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace easgate::powershell::scalars {
namespace {

constexpr std::int64_t kTicksPerSecond = 10'000'000;

TEST(ParseDateTime, ReadsUtcWithSevenFractionalDigits) {
  auto dt = parseDateTime("2024-03-05T09:14:27.1234567Z");
  ASSERT_TRUE(dt);
  EXPECT_EQ(dt->kind, DateTimeKind::kUtc);
  EXPECT_EQ(formatDateTime(*dt), "2024-03-05T09:14:27.1234567Z");
  EXPECT_EQ(utc::formatDotNetTicks(dt->utcTicks()), "2024-03-05T09:14:27.1234567Z");
}

TEST(ParseDateTime, KeepsAnOffsetAndConvertsItToUtc) {
  auto dt = parseDateTime("2024-04-11T16:02:09.5+02:00");
  ASSERT_TRUE(dt);
  EXPECT_EQ(dt->kind, DateTimeKind::kOffset);
  EXPECT_EQ(dt->offset_minutes, 120);
  EXPECT_EQ(formatDateTime(*dt), "2024-04-11T16:02:09.5000000+02:00");
  EXPECT_EQ(utc::formatDotNetTicks(dt->utcTicks()), "2024-04-11T14:02:09.5000000Z");
  auto west = parseDateTime("2024-01-01T00:30:00-05:30");
  ASSERT_TRUE(west);
  EXPECT_EQ(utc::formatDotNetTicks(west->utcTicks()), "2024-01-01T06:00:00Z");
}

TEST(ParseDateTime, ReadsAnUnspecifiedKindAndTheEdgesOfTheRange) {
  auto dt = parseDateTime("2024-02-29T23:59:59");
  ASSERT_TRUE(dt);
  EXPECT_EQ(dt->kind, DateTimeKind::kUnspecified);
  EXPECT_EQ(formatDateTime(*dt), "2024-02-29T23:59:59.0000000");
  auto min = parseDateTime("0001-01-01T00:00:00Z");
  ASSERT_TRUE(min);
  EXPECT_EQ(min->ticks, 0);
  auto max = parseDateTime("9999-12-31T23:59:59.9999999Z");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->ticks, 3'155'378'975'999'999'999);
}

TEST(ParseDateTime, TruncatesDigitsBeyondTicks) {
  auto dt = parseDateTime("2024-03-05T09:14:27.12345678Z");
  ASSERT_TRUE(dt);
  EXPECT_EQ(dt->ticks % kTicksPerSecond, 1234567);
}

TEST(ParseDateTime, RejectsImpossibleAndMalformedTimes) {
  for (const char* bad : {"2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z",
                          "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+2:00",
                          "2024-01-01T00:00:00.Z", "0000-01-01T00:00:00Z", "yesterday", ""}) {
    EXPECT_FALSE(parseDateTime(bad)) << bad;
  }
}

TEST(TimeSpan, ReadsXmlDurationsAsDotNetWritesThem) {
  EXPECT_EQ(parseTimeSpan("PT9.0269026S"), 90269026);
  EXPECT_EQ(parseTimeSpan("P1DT2H"), (26 * 3600) * kTicksPerSecond);
  EXPECT_EQ(parseTimeSpan("-PT1S"), -kTicksPerSecond);
  EXPECT_EQ(parseTimeSpan("PT0S"), 0);
  EXPECT_EQ(parseTimeSpan("P1Y2M"), (365 + 60) * 86400 * kTicksPerSecond);  // .NET's reading
}

TEST(TimeSpan, RejectsMalformedDurations) {
  for (const char* bad : {"P", "PT", "1D", "P1H", "PT1D", "P1.5D", "PT1.S", "PT2S1M", "P-1D"}) {
    EXPECT_FALSE(parseTimeSpan(bad)) << bad;
  }
}

TEST(TimeSpan, FormatsAndReadsBackEveryMagnitude) {
  for (std::int64_t ticks :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-90269026},
        std::int64_t{93784} * kTicksPerSecond + 5, std::numeric_limits<std::int64_t>::max()}) {
    std::string text = formatTimeSpan(ticks);
    EXPECT_EQ(parseTimeSpan(text), ticks) << text;
  }
  EXPECT_EQ(formatTimeSpan(93784 * kTicksPerSecond), "P1DT2H3M4S");
}

TEST(Numbers, ReadIntegersWithinTheirRange) {
  EXPECT_EQ(parseSigned(" -42 ", -128, 127), -42);
  EXPECT_EQ(parseSigned("+7", -128, 127), 7);
  EXPECT_FALSE(parseSigned("128", -128, 127));
  EXPECT_FALSE(parseSigned("1.0", -128, 127));
  EXPECT_FALSE(parseSigned("", -128, 127));
  EXPECT_EQ(parseUnsigned("18446744073709551615", ~0ULL), ~0ULL);
  EXPECT_FALSE(parseUnsigned("-1", ~0ULL));
}

TEST(Numbers, ReadXmlSchemaFloatingPointIncludingSpecialValues) {
  EXPECT_EQ(parseDouble("1.5E+20"), 1.5e20);
  EXPECT_EQ(parseDouble("INF"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parseDouble("-INF"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*parseDouble("NaN")));
  EXPECT_FALSE(parseDouble("inf"));
  EXPECT_FALSE(parseDouble("1,5"));
  EXPECT_EQ(parseSingle("0.1"), static_cast<double>(0.1f));
  EXPECT_FALSE(parseSingle("1e39"));
  EXPECT_EQ(formatDouble(0.1), "0.1");
  EXPECT_EQ(formatSingle(static_cast<double>(0.1f)), "0.1");
}

TEST(Text, DecimalsGuidsAndVersionsAreValidated) {
  EXPECT_EQ(parseDecimal("-123.4500"), "-123.4500");
  EXPECT_FALSE(parseDecimal("1e5"));
  EXPECT_FALSE(parseDecimal("."));
  EXPECT_EQ(parseGuid("3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_FALSE(parseGuid("3F2504E0-4F89-11D3-9A0C-0305E82C330"));
  EXPECT_FALSE(parseGuid("3F2504E0+4F89-11D3-9A0C-0305E82C3301"));
  EXPECT_EQ(parseVersion("15.2.1118.7"), "15.2.1118.7");
  EXPECT_FALSE(parseVersion("15"));
  EXPECT_FALSE(parseVersion("1.2.3.4.5"));
}

TEST(Base64, DecodesWithPaddingAndWhitespaceAndRejectsGarbage) {
  EXPECT_EQ(parseBase64("AQID\nBA=="), (std::vector<std::uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(parseBase64(""), std::vector<std::uint8_t>{});
  EXPECT_FALSE(parseBase64("AQI"));
  EXPECT_FALSE(parseBase64("AQ=D"));
  EXPECT_FALSE(parseBase64("A*ID"));
  std::vector<std::uint8_t> bytes{0, 255, 16, 32, 64};
  EXPECT_EQ(parseBase64(formatBase64(bytes)), bytes);
}

}  // namespace
}  // namespace easgate::powershell::scalars
