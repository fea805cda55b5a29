#include "agent/inventory/exchange_mapping.h"

#include <gtest/gtest.h>

#include "powershell/clixml/reader.h"

namespace easgate::agent {
namespace {

using powershell::PsValue;

constexpr const char* kDeviceTypes =
    "<T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice</T>"
    "<T>Deserialized.System.Object</T>";
constexpr const char* kStatisticsTypes =
    "<T>Deserialized.Microsoft.Exchange.Data.Mapi.MobileDeviceStatistics</"
    "T><T>Deserialized.System.Object</T>";
constexpr const char* kMailboxTypes =
    "<T>Deserialized.Microsoft.Exchange.Data.Directory.Management.CASMailbox</T>";

std::string obj(const std::string& types, const std::string& props) {
  return "<Obj><TN>" + types + "</TN><Props>" + props + "</Props></Obj>";
}

std::vector<PsValue> parse(const std::string& values) {
  auto parsed = powershell::readClixml("<Objs>" + values + "</Objs>");
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? parsed.value() : std::vector<PsValue>{};
}

std::vector<DeviceRecord> build(const std::string& values,
                                InventoryBuilder::Counts* counts = nullptr) {
  InventoryBuilder builder;
  for (const auto& v : parse(values)) builder.add(v);
  if (counts) *counts = builder.counts();
  return std::move(builder).finish();
}

const std::string kTonyDevice =
    obj(kDeviceTypes,
        "<S N=\"DeviceId\">F2MVK1ABC</S><S N=\"DeviceType\">iPhone</S>"
        "<S N=\"DeviceAccessState\">Allowed</S><S N=\"DeviceAccessStateReason\">Individual</S>"
        "<DT N=\"FirstSyncTime\">2024-03-05T09:14:27Z</DT>"
        "<S N=\"Identity\">contoso.com/Users/Tony/ExchangeActiveSyncDevices/iPhone§F2MVK1ABC</S>"
        "<G N=\"Guid\">3F2504E0-4F89-11D3-9A0C-0305E82C3301</G>");
const std::string kTonyStatistics =
    obj(kStatisticsTypes,
        "<S N=\"DeviceID\">F2MVK1ABC</S><S N=\"DeviceAccessState\">Blocked</S>"
        "<DT N=\"LastSuccessSync\">2024-06-30T07:59:58Z</DT><S N=\"Status\">DeviceWipePending</S>"
        "<DT N=\"DeviceWipeRequestTime\">2024-06-30T06:00:00Z</DT>"
        "<S N=\"Identity\">CONTOSO.COM/Users/Tony/ExchangeActiveSyncDevices/iPhone§F2MVK1ABC</S>");
const std::string kTonyMailbox = obj(
    kMailboxTypes,
    "<S N=\"Identity\">contoso.com/Users/Tony</S><S N=\"PrimarySmtpAddress\">tony@contoso.com</S>");

TEST(ClassifyExchangeObject, RecognisesDeserializedAndSelectedTypes) {
  auto values = parse(
      kTonyDevice + kTonyStatistics + kTonyMailbox +
      obj("<T>Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice</T>",
          "") +
      obj("<T>System.Management.Automation.PSCustomObject</T>", ""));
  ASSERT_EQ(values.size(), 5u);
  EXPECT_EQ(classifyExchangeObject(*values[0].asObject()), ExchangeObjectKind::kMobileDevice);
  EXPECT_EQ(classifyExchangeObject(*values[1].asObject()),
            ExchangeObjectKind::kMobileDeviceStatistics);
  EXPECT_EQ(classifyExchangeObject(*values[2].asObject()), ExchangeObjectKind::kCasMailbox);
  EXPECT_EQ(classifyExchangeObject(*values[3].asObject()), ExchangeObjectKind::kMobileDevice);
  EXPECT_EQ(classifyExchangeObject(*values[4].asObject()), ExchangeObjectKind::kOther);
}

TEST(InventoryBuilder, MapsAMobileDevice) {
  auto records = build(kTonyDevice);
  ASSERT_EQ(records.size(), 1u);
  const DeviceRecord& r = records[0];
  EXPECT_EQ(r.device_id, "F2MVK1ABC");
  EXPECT_EQ(r.device_type, "iPhone");
  EXPECT_EQ(r.access_state, "Allowed");
  EXPECT_EQ(r.access_state_reason, "Individual");
  EXPECT_EQ(r.mailbox_identity, "contoso.com/Users/Tony");
  EXPECT_EQ(r.guid, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  ASSERT_TRUE(r.first_sync_time);
  EXPECT_EQ(formatTimestamp(*r.first_sync_time), "2024-03-05T09:14:27Z");
  EXPECT_FALSE(r.last_success_sync);
}

TEST(InventoryBuilder, JoinsStatisticsAndMailboxesInEitherOrder) {
  for (const std::string& order : {kTonyDevice + kTonyStatistics + kTonyMailbox,
                                   kTonyMailbox + kTonyStatistics + kTonyDevice}) {
    InventoryBuilder::Counts counts;
    auto records = build(order, &counts);
    ASSERT_EQ(records.size(), 1u);
    const DeviceRecord& r = records[0];
    EXPECT_EQ(r.mailbox_address, "tony@contoso.com");
    EXPECT_EQ(r.access_state, "Allowed") << "Get-MobileDevice wins over statistics";
    EXPECT_EQ(r.wipe_status, "DeviceWipePending");
    ASSERT_TRUE(r.wipe_request_time);
    EXPECT_EQ(formatTimestamp(*r.wipe_request_time), "2024-06-30T06:00:00Z");
    ASSERT_TRUE(r.last_success_sync);
    EXPECT_EQ(counts.devices, 1u);
    EXPECT_EQ(counts.statistics, 1u);
    EXPECT_EQ(counts.mailboxes, 1u);
  }
}

TEST(InventoryBuilder, JoinsByGuidWhenIdentitiesDiffer) {
  auto records = build(
      kTonyDevice +
      obj(kStatisticsTypes,
          "<S N=\"Status\">DeviceOk</S><G N=\"Guid\">3f2504e0-4f89-11d3-9a0c-0305e82c3301</G>"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].wipe_status, "DeviceOk");
}

TEST(InventoryBuilder, TakesEnumObjectsByTheirNameAndMailboxByDistinguishedName) {
  auto records = build(obj(kDeviceTypes,
                           "<S N=\"DeviceId\">X1</S>"
                           "<Obj "
                           "N=\"DeviceAccessState\"><TN><T>Deserialized.System.Enum</T></"
                           "TN><ToString>Quarantined</ToString><I32>3</I32></Obj>"
                           "<S "
                           "N=\"DistinguishedName\">CN=Dev§X1,CN=ExchangeActiveSyncDevices,CN=Ann,"
                           "OU=Users,DC=c,DC=com</S>") +
                       obj(kMailboxTypes,
                           "<S N=\"DistinguishedName\">CN=Ann,OU=Users,DC=c,DC=com</S><S "
                           "N=\"PrimarySmtpAddress\">ann@c.com</S>"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].access_state, "Quarantined");
  EXPECT_EQ(records[0].mailbox_address, "ann@c.com");
}

TEST(InventoryBuilder, ReadsAListExportedAsOneValueAndCountsWhatItSkips) {
  InventoryBuilder::Counts counts;
  auto records =
      build("<Obj><LST>" + kTonyDevice + "<S>not a device</S></LST></Obj><I32>4</I32>", &counts);
  EXPECT_EQ(records.size(), 1u);
  EXPECT_EQ(counts.ignored, 2u);
}

TEST(InventoryBuilder, KeepsTheOrderInWhichPartnershipsFirstAppear) {
  std::string second = obj(
      kDeviceTypes, "<S N=\"DeviceId\">B</S><S N=\"Identity\">m/ExchangeActiveSyncDevices/B</S>");
  std::string first = obj(
      kDeviceTypes, "<S N=\"DeviceId\">A</S><S N=\"Identity\">m/ExchangeActiveSyncDevices/A</S>");
  auto records = build(second + first);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].device_id, "B");
  EXPECT_EQ(records[1].device_id, "A");
}

}  // namespace
}  // namespace easgate::agent
