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

TEST(CsvExport, NamesColumnsAsExchangesCmdletsNameTheProperties) {
  // The names administrators' scripts read from Get-MobileDevice and
  // Get-MobileDeviceStatistics output, in a stable order (0.1's columns first).
  std::string csv = render(ExportFormat::kCsv, {});
  EXPECT_EQ(csv,
            "MailboxIdentity,PrimarySmtpAddress,DeviceId,DeviceType,DeviceModel,DeviceOS,"
            "DeviceUserAgent,DeviceFriendlyName,DeviceAccessState,DeviceAccessStateReason,"
            "ClientType,FirstSyncTime,LastSuccessSync,Status,DeviceWipeRequestTime,"
            "DeviceWipeSentTime,DeviceWipeAckTime,Identity,Guid,DeviceAccessControlRule,"
            "ClientVersion,UserDisplayName,DeviceImei,DeviceTelephoneNumber,DeviceMobileOperator,"
            "DeviceOSLanguage,IsManaged,IsCompliant,LastSyncAttemptTime,LastPolicyUpdateTime,"
            "DevicePolicyApplicationStatus\r\n");
}

TEST(CsvExport, QuotesFieldsWithCommasQuotesAndLineBreaksPerRfc4180) {
  std::string csv = render(ExportFormat::kCsv, {sampleRecord()});
  std::string row = csv.substr(csv.find("\r\n") + 2);
  EXPECT_EQ(row,
            "contoso.com/Users/Tony,,F2MVK1ABC,,,,,\"Tony's \"\"work\"\" phone, new\r\nline\",,,,"
            "2024-03-05T09:14:27.1234567Z" +
                std::string(19, ',') + "\r\n");
}

TEST(CsvExport, WritesTheColumnsAskedForInTheirOrderByEitherName) {
  auto columns = parseDeviceColumns("devicefriendlyname, DeviceId,firstSyncTime");
  ASSERT_TRUE(columns.ok()) << columns.error();
  ExportOptions options;
  options.columns = columns.value();
  EXPECT_EQ(
      render(ExportFormat::kCsv, {sampleRecord()}, options),
      "DeviceFriendlyName,DeviceId,FirstSyncTime\r\n"
      "\"Tony's \"\"work\"\" phone, new\r\nline\",F2MVK1ABC,2024-03-05T09:14:27.1234567Z\r\n");
  // JSON keeps the API's names, in the order asked.
  EXPECT_EQ(render(ExportFormat::kNdjson, {sampleRecord()}, options),
            R"({"friendlyName":"Tony's \"work\" phone, new\r\nline","deviceId":"F2MVK1ABC",)"
            R"("firstSyncTime":"2024-03-05T09:14:27.1234567Z"})"
            "\n");
  // A column asked for twice is written twice, each a member of its own.
  options.columns = parseDeviceColumns("DeviceId,deviceid").value();
  EXPECT_EQ(render(ExportFormat::kNdjson, {sampleRecord()}, options),
            R"({"deviceId":"F2MVK1ABC","deviceId":"F2MVK1ABC"})"
            "\n");
  // Get-MobileDevice's own name for the friendly name is understood too.
  ASSERT_TRUE(parseDeviceColumns("FriendlyName").ok());
  EXPECT_EQ(parseDeviceColumns("FriendlyName").value().front()->exchange_name,
            "DeviceFriendlyName");
}

TEST(CsvExport, RefusesAColumnItDoesNotHaveAndSaysWhichItHas) {
  auto unknown = parseDeviceColumns("DeviceId,Colour");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("no column 'Colour'"), std::string::npos) << unknown.error();
  EXPECT_NE(unknown.error().find("DeviceAccessState"), std::string::npos) << unknown.error();
  EXPECT_FALSE(parseDeviceColumns("DeviceId,,Guid").ok());
  EXPECT_FALSE(parseDeviceColumns("").ok());
}

TEST(CsvExport, ForExcelStartsWithAByteOrderMarkAndWritesDatesExcelReads) {
  ExportOptions options;
  options.excel = true;
  options.columns = parseDeviceColumns("DeviceId,FirstSyncTime,LastSuccessSync").value();
  EXPECT_EQ(render(ExportFormat::kCsv, {sampleRecord()}, options),
            "\xEF\xBB\xBF"
            "DeviceId,FirstSyncTime,LastSuccessSync\r\n"
            "F2MVK1ABC,2024-03-05 09:14:27,\r\n");
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
  ExportOptions unguarded;
  unguarded.csv_formula_guard = false;
  std::string raw = render(ExportFormat::kCsv, {r}, unguarded);
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
