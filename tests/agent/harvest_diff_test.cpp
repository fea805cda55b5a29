// What a harvest's reading of a partnership means against what the inventory holds: decided
// without a store or an Exchange, so every case is a line here.
#include "agent/harvest/harvest_diff.h"
#include "agent/inventory/exchange_mapping.h"

#include <gtest/gtest.h>

#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"
#include "powershell/clixml/reader.h"

namespace easgate::agent {
namespace {

const std::string kKey =
    "contoso.com/users/ann/exchangeactivesyncdevices/iphone\xc2\xa7"
    "d1";

DeviceRecord device() {
  DeviceRecord r;
  r.identity =
      "contoso.com/Users/Ann/ExchangeActiveSyncDevices/iPhone\xc2\xa7"
      "D1";
  r.mailbox_identity = "contoso.com/Users/Ann";
  r.device_id = "D1";
  r.device_type = "iPhone";
  r.access_state = "Allowed";
  r.access_state_reason = "Global";
  r.last_success_sync = timestampFromDotNetTicks(638'000'000'000'000'000);
  return r;
}

StoredPartnership stored(const DeviceRecord& r, bool removed = false) {
  StoredPartnership s;  // the diff reads its record and flags, not its row's other columns
  s.record = recordText(fieldTextsOf(r));
  s.removed = removed;
  return s;
}

std::string member(const std::string& detail, const char* name) {
  auto doc = json::parseJson(detail);
  EXPECT_TRUE(doc.ok());
  const json::JsonValue* v = doc->find(name);
  if (!v) return "<absent>";
  if (v->asString()) return *v->asString();
  if (v->asBool()) return *v->asBool() ? "true" : "false";
  return "<other>";
}

TEST(HarvestDiff, APartnershipNeverStoredIsDiscoveredAndSaysWhetherTheMdmAllowedIt) {
  for (bool allowed : {false, true}) {
    auto d = diffPartnership(std::nullopt, device(), kKey, true, allowed);
    EXPECT_EQ(d.kind, PartnershipDiff::Kind::kDiscovered);
    EXPECT_TRUE(d.changes.empty()) << "a discovery has no history yet";
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0].kind, "device-discovered");
    EXPECT_EQ(d.events[0].device_key, kKey);
    EXPECT_EQ(d.events[0].mailbox, "contoso.com/Users/Ann");
    EXPECT_EQ(member(d.events[0].detail, "allowedByMdm"), allowed ? "true" : "false");
    EXPECT_EQ(d.fields.at("deviceId"), "D1");
  }
}

TEST(HarvestDiff, APartnershipStoredAsRemovedIsDiscoveredAgain) {
  auto d = diffPartnership(stored(device(), /*removed=*/true), device(), kKey, true, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kDiscovered);
}

TEST(HarvestDiff, NothingChangedIsUnchangedWithNoEvent) {
  auto d = diffPartnership(stored(device()), device(), kKey, true, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kUnchanged);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_TRUE(d.events.empty());
}

TEST(HarvestDiff, AnAccessStateChangeIsRecordedFieldByFieldWithOneEvent) {
  DeviceRecord now = device();
  now.access_state = "Blocked";
  now.access_state_reason = "Individual";
  auto d = diffPartnership(stored(device()), now, kKey, true, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kChanged);
  ASSERT_EQ(d.changes.size(), 2u);
  EXPECT_EQ(d.changes[0].field, "accessState");
  EXPECT_EQ(d.changes[0].old_value, "Allowed");
  EXPECT_EQ(d.changes[0].new_value, "Blocked");
  EXPECT_EQ(d.changes[1].field, "accessStateReason");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].kind, "access-state-changed");
  EXPECT_EQ(member(d.events[0].detail, "from"), "Allowed");
  EXPECT_EQ(member(d.events[0].detail, "to"), "Blocked");
  EXPECT_EQ(member(d.events[0].detail, "reason"), "Individual");
}

TEST(HarvestDiff, AWipeAcknowledgedIsAWipeEventWithItsTimes) {
  DeviceRecord now = device();
  now.wipe_status = "WipeSuccessful";
  now.wipe_ack_time = timestampFromDotNetTicks(638'100'000'000'000'000);
  auto d = diffPartnership(stored(device()), now, kKey, true, false);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].kind, "wipe-status-changed");
  EXPECT_EQ(member(d.events[0].detail, "status"), "WipeSuccessful");
  EXPECT_EQ(member(d.events[0].detail, "acknowledged"), d.fields.at("wipeAckTime"));
  EXPECT_FALSE(d.fields.at("wipeAckTime").empty());
}

TEST(HarvestDiff, WithoutStatisticsTheStoredOnesAreKeptAndNothingIsSaidToChange) {
  DeviceRecord before = device();
  before.wipe_status = "WipePending";
  DeviceRecord now = device();  // what Get-MobileDevice alone gives: no sync, no wipe
  now.last_success_sync.reset();
  auto d = diffPartnership(stored(before), now, kKey, /*statistics_came=*/false, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kUnchanged);
  EXPECT_EQ(d.fields.at("wipeStatus"), "WipePending");
  EXPECT_EQ(d.fields.at("lastSuccessSync"), fieldTextsOf(before).at("lastSuccessSync"));

  // A field Get-MobileDevice does report still changes.
  now.friendly_name = "Ann's new name";
  d = diffPartnership(stored(before), now, kKey, false, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kChanged);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0].field, "friendlyName");
  EXPECT_TRUE(d.events.empty()) << "a name is no access or wipe change";
}

TEST(HarvestDiff, WithStatisticsTheirAbsenceIsAChange) {
  DeviceRecord before = device();
  before.wipe_status = "WipePending";
  auto d = diffPartnership(stored(before), device(), kKey, /*statistics_came=*/true, false);
  EXPECT_EQ(d.kind, PartnershipDiff::Kind::kChanged);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0].field, "wipeStatus");
  EXPECT_EQ(d.changes[0].new_value, "");
}

TEST(HarvestDiff, StatisticsFieldsAreSyncAndWipeAlone) {
  EXPECT_TRUE(isStatisticsField("lastSuccessSync"));
  EXPECT_TRUE(isStatisticsField("wipeStatus"));
  EXPECT_TRUE(isStatisticsField("wipeAckTime"));
  EXPECT_FALSE(isStatisticsField("accessState"));
  EXPECT_FALSE(isStatisticsField("firstSyncTime")) << "Get-MobileDevice reports it";
}

TEST(HarvestDiff, ListsDifferOnlyInContentNotInCaseOrderOrRepeats) {
  EXPECT_FALSE(listDiffers({"A1", "b2"}, {"B2", "a1"}));
  EXPECT_FALSE(listDiffers({"A1", "A1"}, {"a1"}));
  EXPECT_FALSE(listDiffers({}, {}));
  EXPECT_TRUE(listDiffers({"A1"}, {}));
  EXPECT_TRUE(listDiffers({}, {"A1"}));
  EXPECT_TRUE(listDiffers({"A1"}, {"A2"}));
}

TEST(HarvestDiff, TheOtherEventsNameWhatTheyAreAbout) {
  auto removed = removalEvent(kKey, fieldTextsOf(device()));
  EXPECT_EQ(removed.kind, "partnership-removed");
  EXPECT_EQ(removed.mailbox, "contoso.com/Users/Ann");
  EXPECT_EQ(member(removed.detail, "deviceId"), "D1");

  auto failed = statisticsFailedEvent("contoso.com/Users/Bo", "MdbOffline: the database");
  EXPECT_EQ(failed.kind, "mailbox-statistics-failed");
  EXPECT_EQ(member(failed.detail, "error"), "MdbOffline: the database");
  EXPECT_EQ(failed.device_key, "");

  auto drift = listDriftEvent("contoso.com/Users/Ann", "allowed", {"D1"}, {});
  EXPECT_EQ(drift.kind, "list-drift");
  EXPECT_EQ(member(drift.detail, "list"), "allowed");
}

// Statistics as Get-MobileDeviceStatistics gives them, joined to a mailbox's staged partnerships.
// One statistics object as the harvest reads it: from CLIXML, object by object, into a record.
DeviceRecord statisticsObject(const std::string& properties) {
  std::vector<DeviceRecord> read;
  auto parsed = powershell::readClixmlObjects(
      "<Objs><Obj><TN><T>Deserialized.Microsoft.Exchange.Data.Mapi.MobileDeviceStatistics</T>"
      "</TN><Props>" +
          properties + "</Props></Obj></Objs>",
      [&](const powershell::PropertyView& o) { read.push_back(statisticsRecord(o)); });
  EXPECT_TRUE(parsed.ok());
  EXPECT_EQ(read.size(), 1u);
  return read.empty() ? DeviceRecord{} : read.front();
}

std::vector<StagedPartnership> stagedAnn() {
  DeviceRecord r = device();
  r.last_success_sync.reset();
  r.guid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
  StagedPartnership ann;
  ann.key = kKey;
  ann.record = r;
  return {ann};
}

TEST(JoinStatistics, FindsItsPartnershipByIdentityInAnyCaseAndEitherSeparator) {
  auto staged = stagedAnn();
  auto at = joinStatistics(
      staged,
      statisticsObject("<S N=\"Identity\">CONTOSO.COM\\Users\\Ann\\ExchangeActiveSyncDevices\\"
                       "iPhone\xc2\xa7"
                       "D1</S><S N=\"DeviceAccessState\">Blocked</S>"
                       "<DT N=\"LastSuccessSync\">2024-06-30T07:59:58Z</DT>"
                       "<S N=\"Status\">DeviceWipePending</S>"),
      /*keep_unlisted=*/false);
  ASSERT_EQ(at, std::optional<std::size_t>(0));
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_EQ(formatTimestamp(*staged[0].record.last_success_sync), "2024-06-30T07:59:58Z");
  EXPECT_EQ(staged[0].record.wipe_status, "DeviceWipePending");
  EXPECT_EQ(staged[0].record.access_state, "Allowed") << "Get-MobileDevice's word stands";
}

TEST(JoinStatistics, FindsItsPartnershipByGuidWhenTheIdentitiesDiffer) {
  auto staged = stagedAnn();
  auto at = joinStatistics(
      staged,
      statisticsObject("<S N=\"Identity\">Ann\\ExchangeActiveSyncDevices\\iPhone-D1</S>"
                       "<G N=\"Guid\">3F2504E0-4F89-11D3-9A0C-0305E82C3301</G>"
                       "<S N=\"Status\">DeviceOk</S>"),
      /*keep_unlisted=*/true);
  ASSERT_EQ(at, std::optional<std::size_t>(0));
  EXPECT_EQ(staged.size(), 1u) << "one partnership, not two";
  EXPECT_EQ(staged[0].record.wipe_status, "DeviceOk");
}

TEST(JoinStatistics, StatisticsOfAPartnershipNotListedAreKeptOnlyWhenAsked) {
  const std::string unlisted =
      "<S N=\"Identity\">contoso.com/Users/Ann/ExchangeActiveSyncDevices/Android\xc2\xa7"
      "D2</S><S N=\"DeviceID\">D2</S><S N=\"DeviceType\">Android</S>";
  auto delta = stagedAnn();
  EXPECT_EQ(joinStatistics(delta, statisticsObject(unlisted), /*keep_unlisted=*/false),
            std::nullopt)
      << "a delta's statistics bring neighbours it did not read";
  EXPECT_EQ(delta.size(), 1u);
  auto full = stagedAnn();
  ASSERT_EQ(joinStatistics(full, statisticsObject(unlisted), /*keep_unlisted=*/true),
            std::optional<std::size_t>(1));
  EXPECT_EQ(full[1].key, partnershipKey(full[1].record.identity));
  EXPECT_EQ(full[1].record.device_id, "D2");
  EXPECT_EQ(full[1].record.mailbox_identity, "contoso.com/Users/Ann");
}

}  // namespace
}  // namespace easgate::agent
