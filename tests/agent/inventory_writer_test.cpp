#include "agent/export/inventory_writer.h"

#include <gtest/gtest.h>

#include <sstream>

namespace easgate::agent {
namespace {

DeviceRecord sampleRecord() {
  DeviceRecord r;
  r.mailbox_identity = "contoso.com/Users/Tony";
  r.device_id = "F2MVK1ABC";
  r.friendly_name = "Tony's \"work\" phone, new\r\nline";
  r.first_sync_time = timestampFromDotNetTicks(638452268671234567);  // 2024-03-05T09:14:27.1234567Z
  return r;
}

std::string render(ExportFormat format, const std::vector<DeviceRecord>& records,
                   ExportOptions options = {}) {
  std::ostringstream out;
  auto writer = makeInventoryWriter(format, out, options);
  for (const auto& r : records) writer->write(r);
  writer->finish();
  return out.str();
}

TEST(ParseExportFormat, AcceptsTheThreeNamesInAnyCase) {
  EXPECT_EQ(parseExportFormat("CSV"), ExportFormat::kCsv);
  EXPECT_EQ(parseExportFormat("json"), ExportFormat::kJson);
  EXPECT_EQ(parseExportFormat("NDJson"), ExportFormat::kNdjson);
  EXPECT_FALSE(parseExportFormat("xml"));
}

TEST(CsvExport, WritesAHeaderInTheStableColumnOrder) {
  std::string csv = render(ExportFormat::kCsv, {});
  EXPECT_EQ(
      csv,
      "mailboxIdentity,mailboxAddress,deviceId,deviceType,deviceModel,deviceOs,deviceUserAgent,"
      "friendlyName,accessState,accessStateReason,clientType,firstSyncTime,lastSuccessSync,"
      "wipeStatus,wipeRequestTime,wipeSentTime,wipeAckTime,identity,guid\r\n");
}

TEST(CsvExport, QuotesFieldsWithCommasQuotesAndLineBreaksPerRfc4180) {
  std::string csv = render(ExportFormat::kCsv, {sampleRecord()});
  std::string row = csv.substr(csv.find("\r\n") + 2);
  EXPECT_EQ(row,
            "contoso.com/Users/Tony,,F2MVK1ABC,,,,,\"Tony's \"\"work\"\" phone, new\r\nline\",,,,"
            "2024-03-05T09:14:27.1234567Z,,,,,,,\r\n");
}

TEST(CsvExport, GuardsCellsASpreadsheetWouldRunAsFormulas) {
  DeviceRecord r;
  r.friendly_name = "=HYPERLINK(\"http://x\")";
  r.device_model = "+1";
  r.device_os = "@SUM(A1)";
  r.device_type = "-2";
  std::string guarded = render(ExportFormat::kCsv, {r});
  EXPECT_NE(guarded.find("\"'=HYPERLINK(\"\"http://x\"\")\""), std::string::npos) << guarded;
  EXPECT_NE(guarded.find("\"'+1\""), std::string::npos);
  EXPECT_NE(guarded.find("\"'@SUM(A1)\""), std::string::npos);
  EXPECT_NE(guarded.find("\"'-2\""), std::string::npos);
  std::string raw = render(ExportFormat::kCsv, {r}, ExportOptions{false});
  EXPECT_NE(raw.find(",\"=HYPERLINK(\"\"http://x\"\")\","), std::string::npos) << raw;
  EXPECT_NE(raw.find(",+1,"), std::string::npos);
}

TEST(JsonExport, WritesAnArrayOfObjectsWithNullForMissingValues) {
  std::string json = render(ExportFormat::kJson, {sampleRecord(), DeviceRecord{}});
  EXPECT_EQ(json.front(), '[');
  EXPECT_EQ(json.substr(json.size() - 3), "\n]\n");
  EXPECT_NE(json.find(R"("friendlyName":"Tony's \"work\" phone, new\r\nline")"), std::string::npos);
  EXPECT_NE(json.find(R"("firstSyncTime":"2024-03-05T09:14:27.1234567Z")"), std::string::npos);
  EXPECT_NE(json.find(R"("mailboxAddress":null)"), std::string::npos);
  EXPECT_NE(json.find("},\n{"), std::string::npos);
  EXPECT_EQ(render(ExportFormat::kJson, {}), "[]\n");
}

TEST(NdjsonExport, WritesOneObjectPerLine) {
  std::string ndjson = render(ExportFormat::kNdjson, {sampleRecord(), sampleRecord()});
  std::istringstream lines(ndjson);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
  }
  EXPECT_EQ(count, 2);
}

}  // namespace
}  // namespace easgate::agent
