// The simulator's Exchange-shaped objects, through CLIXML, into device records: what the
// simulator serves must read as real Exchange output does.
#include <gtest/gtest.h>

#include "agent/inventory/exchange_mapping.h"
#include "powershell/clixml/reader.h"
#include "powershell/clixml/writer.h"
#include "powershell/sim/exchange_objects.h"

namespace easgate::agent {
namespace {

namespace sim = powershell::sim;

TEST(SimulatedExchangeMapping, DeviceStatisticsAndMailboxJoinIntoOneRecord) {
  sim::PartnershipFacts device;
  device.mailbox_identity = "contoso.com/Users/Ann Lee";
  device.mailbox_name = "Ann Lee";
  device.device_id = "ANDROIDC0FFEE";
  device.device_type = "Android";
  device.device_model = "Pixel 8";
  device.device_os = "Android 14.0.0";
  device.device_user_agent = "Android/14-EAS-2.0";
  device.friendly_name = "Ann's, \"Pixel\"";
  device.access_state = "Quarantined";
  device.access_state_reason = "Global";
  device.guid = sim::Guid("9a1c44b2-0d6e-4f1a-b3c7-5e8d2f4a6b10");
  device.first_sync_ticks = 638452268671234567;  // 2024-03-05T09:14:27.1234567Z
  device.last_success_sync_ticks = 638452268671234567 + 36'000'000'000;
  device.wipe_status = "DeviceWipePending";
  device.wipe_request_ticks = 638452268671234567 + 72'000'000'000;

  sim::MailboxFacts mailbox;
  mailbox.identity = "contoso.com/Users/Ann Lee";
  mailbox.name = "Ann Lee";
  mailbox.setPrimarySmtpAddress("ann.lee@contoso.com");
  mailbox.allowed_device_ids = {"ANDROIDC0FFEE"};

  // Exchange versions type statistics differently; a file is read right whichever it holds.
  for (const char* statistics_type : sim::kStatisticsTypeNames) {
    SCOPED_TRACE(statistics_type);
    std::string document = powershell::writeClixml(
        {sim::mobileDevice(device), sim::mobileDeviceStatistics(device, statistics_type),
         sim::casMailbox(mailbox)},
        {true});
    auto values = powershell::readClixml(document);
    ASSERT_TRUE(values.ok()) << values.error().message;

    InventoryBuilder builder;
    for (const auto& v : values.value()) builder.add(v);
    EXPECT_EQ(builder.counts().devices, 1u);
    EXPECT_EQ(builder.counts().statistics, 1u);
    EXPECT_EQ(builder.counts().mailboxes, 1u);
    auto records = std::move(builder).finish();
    ASSERT_EQ(records.size(), 1u);
    const DeviceRecord& r = records[0];
    EXPECT_EQ(r.mailbox_identity, "contoso.com/Users/Ann Lee");
    EXPECT_EQ(r.mailbox_address, "ann.lee@contoso.com");
    EXPECT_EQ(r.device_id, "ANDROIDC0FFEE");
    EXPECT_EQ(r.friendly_name, "Ann's, \"Pixel\"");
    EXPECT_EQ(r.access_state, "Quarantined");
    EXPECT_EQ(r.identity,
              "contoso.com/Users/Ann Lee/ExchangeActiveSyncDevices/Android§ANDROIDC0FFEE");
    EXPECT_EQ(r.wipe_status, "DeviceWipePending");
    ASSERT_TRUE(r.first_sync_time && r.last_success_sync && r.wipe_request_time);
    EXPECT_EQ(formatTimestamp(*r.first_sync_time), "2024-03-05T09:14:27.1234567Z");
    EXPECT_EQ(formatTimestamp(*r.last_success_sync), "2024-03-05T10:14:27.1234567Z");
    EXPECT_FALSE(r.wipe_ack_time);
  }
}

}  // namespace
}  // namespace easgate::agent
