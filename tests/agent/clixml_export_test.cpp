#include "agent/export/clixml_export.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;

fs::path sample(const char* name) { return fs::path(EASGATE_TEST_DATA_DIR) / "clixml" / name; }

TEST(ReadInventoryFromClixml, ReadsTheShippedSampleWithEveryJoinMade) {
  auto inventory = readInventoryFromClixml(sample("exchange-inventory.xml"));
  ASSERT_TRUE(inventory.ok()) << inventory.error().message;
  ASSERT_EQ(inventory->records.size(), 3u);
  EXPECT_EQ(inventory->counts.devices, 3u);
  EXPECT_EQ(inventory->counts.statistics, 2u);
  EXPECT_EQ(inventory->counts.mailboxes, 2u);
  const DeviceRecord& pixel = inventory->records[1];
  EXPECT_EQ(pixel.device_id, "ANDROIDC2591827");
  EXPECT_EQ(pixel.mailbox_address, "lila.okafor@contoso.com");
  EXPECT_EQ(pixel.friendly_name, "📱 Lila's Pixel");
  EXPECT_EQ(pixel.access_state, "Blocked");
  EXPECT_EQ(pixel.wipe_status, "DeviceWipePending");
  ASSERT_TRUE(pixel.first_sync_time);
  EXPECT_EQ(formatTimestamp(*pixel.first_sync_time), "2024-04-11T14:02:09.5000000Z");
}

TEST(ReadInventoryFromClixml, Utf16FilesFromWindowsPowerShellGiveTheSameExport) {
  auto utf8 = readInventoryFromClixml(sample("exchange-inventory.xml"));
  auto utf16 = readInventoryFromClixml(sample("exchange-inventory-ps51.xml"));
  ASSERT_TRUE(utf8.ok() && utf16.ok());
  std::ostringstream a, b;
  ASSERT_TRUE(writeInventory(utf8->records, ExportFormat::kJson, std::nullopt, a).ok());
  ASSERT_TRUE(writeInventory(utf16->records, ExportFormat::kJson, std::nullopt, b).ok());
  EXPECT_EQ(a.str(), b.str());
}

TEST(ReadInventoryFromClixml, ReportsProgressUpToTheWholeFile) {
  std::size_t last_done = 0, total = 0, calls = 0;
  auto inventory = readInventoryFromClixml(sample("exchange-inventory.xml"),
                                           [&](std::size_t done, std::size_t all) {
                                             EXPECT_GE(done, last_done);
                                             last_done = done;
                                             total = all;
                                             ++calls;
                                           });
  ASSERT_TRUE(inventory.ok());
  EXPECT_EQ(calls, 7u);
  EXPECT_GT(total, 0u);
  EXPECT_LE(last_done, total);
}

TEST(ReadInventoryFromClixml, DistinguishesUnreadableFromInvalidInput) {
  auto missing = readInventoryFromClixml(sample("no-such-file.xml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ExportErrc::kInputUnreadable);

  fs::path bad = easgate::testing::scratchPath("export-truncated", ".xml");
  {
    std::ifstream in(sample("exchange-inventory.xml"), std::ios::binary);
    std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(bad, std::ios::binary) << whole.substr(0, whole.size() / 2);
  }
  auto truncated = readInventoryFromClixml(bad);
  fs::remove(bad);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, ExportErrc::kInputInvalid);
  EXPECT_NE(truncated.error().message.find("line "), std::string::npos)
      << truncated.error().message;
}

}  // namespace
TEST(WriteInventory, ASourceThatFailsMidwayLeavesTheOldFileAsItWas) {
  const fs::path out = easgate::testing::scratchPath("export-midway", ".csv");
  {
    std::ofstream old(out);
    old << "the last good export\n";
  }
  DeviceRecord one;
  one.identity =
      "Ann/ExchangeActiveSyncDevices/iPhone\xc2\xa7"
      "A1";
  std::ostringstream unused;
  auto written = writeInventory(
      [&](const std::function<void(const DeviceRecord&)>& sink) -> Result<void, ExportError> {
        sink(one);  // one record is out, then the store fails
        return ExportError{ExportErrc::kInputUnreadable, "the inventory cannot be read"};
      },
      ExportFormat::kCsv, out, unused);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().code, ExportErrc::kInputUnreadable);
  std::string line;
  {
    std::ifstream in(out);  // closed before the removal: Windows removes no open file
    std::getline(in, line);
  }
  EXPECT_EQ(line, "the last good export");
  fs::remove(out);
}

}  // namespace easgate::agent
