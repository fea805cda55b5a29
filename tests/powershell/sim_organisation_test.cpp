// The simulator's Exchange semantics: what the agent's tests will rely on Exchange doing.
#include <gtest/gtest.h>

#include <cctype>
#include <stdexcept>

#include "powershell/sim/cmdlets.h"
#include "powershell/sim/organisation.h"

namespace easgate::powershell::sim {
namespace {

constexpr std::int64_t kNow = 638'700'000'000'000'000;  // 2024-12, as .NET ticks
constexpr std::int64_t kLater = kNow + 600'000'000;     // one minute on

PartnershipFacts phone(std::string id, std::string type = "iPhone") {
  PartnershipFacts f;
  f.guid = stableGuid(id, 'd');
  f.device_id = std::move(id);
  f.device_type = std::move(type);
  f.device_model = "iPhone15C2";
  f.device_os = "iOS 17.4.1 21E236";
  f.device_user_agent = "Apple-iPhone15C2/2104.236";
  return f;
}

// One mailbox, two devices.
struct SmallOrg {
  Organisation org;
  SimMailbox* tony = nullptr;
  SmallOrg() {
    MailboxFacts m;
    m.identity = "contoso.com/Users/Tony Smith";
    m.name = "Tony Smith";
    m.sam_account_name = "tsmith";
    m.setPrimarySmtpAddress("tony.smith@contoso.com");
    m.guid = Guid("11111111-2222-4333-a444-555555555555");
    tony = &org.addMailbox(m);
    org.addDevice(*tony, phone("APPL1"));
    org.addDevice(*tony, phone("ANDROIDC2", "Android"));
  }
  PartnershipFacts& device(std::size_t i) { return tony->devices[i]; }
  // A device the test knows is there; a missing one fails the test rather than crash it.
  Organisation::DeviceRef find(std::string_view id) {
    auto found = org.findDevice(id);
    if (!found) throw std::runtime_error("no device " + std::string(id));
    return *found;
  }
  Organisation::ListChange add(std::string id) { return {std::nullopt, {std::move(id)}, {}}; }
};

TEST(SimOrganisation, EvaluatesPersonalListsThenDeviceRulesThenTheDefault) {
  SmallOrg s;
  EXPECT_EQ(s.org.evaluate(*s.tony, s.device(0)),
            (std::pair<std::string, std::string>{"Allowed", "Global"}));

  s.org.policy.default_level = AccessLevel::kQuarantine;
  EXPECT_EQ(s.org.evaluate(*s.tony, s.device(0)).first, "Quarantined");

  s.org.policy.rules.push_back({Characteristic::kDeviceModel, "iPhone15C2", AccessLevel::kAllow});
  s.org.policy.rules.push_back({Characteristic::kDeviceType, "iPhone", AccessLevel::kBlock});
  EXPECT_EQ(s.org.evaluate(*s.tony, s.device(0)),
            (std::pair<std::string, std::string>{"Allowed", "DeviceRule"}))
      << "a model rule is more specific than a type rule";

  s.tony->facts.allowed_device_ids = {"appl1"};
  s.org.policy.rules.push_back(
      {Characteristic::kUserAgent, "Apple-iPhone15C2/2104.236", AccessLevel::kBlock});
  EXPECT_EQ(s.org.evaluate(*s.tony, s.device(0)),
            (std::pair<std::string, std::string>{"Allowed", "Individual"}))
      << "the personal allow list beats every rule; device IDs compare without case";

  s.tony->facts.blocked_device_ids = {"APPL1"};
  EXPECT_EQ(s.org.evaluate(*s.tony, s.device(0)),
            (std::pair<std::string, std::string>{"Blocked", "Individual"}))
      << "the personal block list beats the allow list";
}

TEST(SimOrganisation, SetCasMailboxListsAddRemoveReplaceAndClear) {
  SmallOrg s;
  ASSERT_TRUE(s.org.changeLists(*s.tony, s.add("APPL1"), std::nullopt, kNow).ok());
  EXPECT_EQ(s.tony->facts.allowed_device_ids, std::vector<std::string>{"APPL1"});
  EXPECT_EQ(s.device(0).access_state, "Allowed");
  EXPECT_EQ(s.device(0).access_state_reason, "Individual");
  EXPECT_EQ(s.device(0).when_changed_ticks, kNow);

  // Adding to the blocked list takes the ID off the allowed list.
  ASSERT_TRUE(s.org.changeLists(*s.tony, std::nullopt, s.add("appl1"), kLater).ok());
  EXPECT_TRUE(s.tony->facts.allowed_device_ids.empty());
  EXPECT_EQ(s.device(0).access_state, "Blocked");

  // Removing it leaves the device Unknown until it next syncs, as Exchange does.
  Organisation::ListChange remove{std::nullopt, {}, {"APPL1"}};
  ASSERT_TRUE(s.org.changeLists(*s.tony, std::nullopt, remove, kLater).ok());
  EXPECT_TRUE(s.tony->facts.blocked_device_ids.empty());
  EXPECT_EQ(s.device(0).access_state, "Unknown");
  s.org.syncAll(kLater);
  EXPECT_EQ(s.device(0).access_state, "Allowed");
  EXPECT_EQ(s.device(0).access_state_reason, "Global");

  // A list replaces the list; an empty one clears it.
  Organisation::ListChange replace{std::vector<std::string>{"X", "ANDROIDC2"}, {}, {}};
  ASSERT_TRUE(s.org.changeLists(*s.tony, replace, std::nullopt, kLater).ok());
  EXPECT_EQ(s.tony->facts.allowed_device_ids, (std::vector<std::string>{"X", "ANDROIDC2"}));
  Organisation::ListChange clear{std::vector<std::string>{}, {}, {}};
  ASSERT_TRUE(s.org.changeLists(*s.tony, clear, std::nullopt, kLater).ok());
  EXPECT_TRUE(s.tony->facts.allowed_device_ids.empty());
}

TEST(SimOrganisation, RefusesOneIdInBothListsAndChangesNothing) {
  SmallOrg s;
  auto both = s.org.changeLists(*s.tony, s.add("APPL1"), s.add("APPL1"), kNow);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("ErrorDeviceIdInBothLists"), std::string::npos);
  EXPECT_TRUE(s.tony->facts.allowed_device_ids.empty());
  EXPECT_TRUE(s.tony->facts.blocked_device_ids.empty());
}

TEST(SimOrganisation, WipeIsRequestedThenSentThenAcknowledged) {
  SmallOrg s;
  auto found =
      s.org.findDevice("contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/iPhone§APPL1");
  ASSERT_TRUE(found);
  auto ref = *found;
  EXPECT_FALSE(s.org.wipe(ref, false, false, kNow).has_value());
  EXPECT_EQ(s.device(0).wipe_status, "DeviceWipePending");
  EXPECT_EQ(s.device(0).wipe_request_ticks, kNow);
  EXPECT_EQ(s.device(0).wipe_sent_ticks, 0);

  s.org.syncAll(kLater);
  EXPECT_EQ(s.device(0).wipe_sent_ticks, kLater) << "sent when the device next syncs";
  EXPECT_EQ(s.device(0).wipe_ack_ticks, 0);
  EXPECT_EQ(s.device(0).wipe_status, "DeviceWipePending");

  s.org.syncAll(kLater + 1);
  EXPECT_EQ(s.device(0).wipe_ack_ticks, kLater + 1);
  EXPECT_EQ(s.device(0).wipe_status, "DeviceWipeSucceeded");
  EXPECT_EQ(s.device(1).wipe_status, "DeviceOk") << "the other device is untouched";
}

TEST(SimOrganisation, AccountOnlyWipeHasItsOwnStatus) {
  SmallOrg s;
  auto ref = s.find(s.device(1).guid.text());
  s.org.wipe(ref, true, false, kNow);
  EXPECT_EQ(s.device(1).wipe_status, "AccountOnlyDeviceWipePending");
  EXPECT_TRUE(s.device(1).wipe_account_only);
  s.org.syncAll(kLater);
  s.org.syncAll(kLater);
  EXPECT_EQ(s.device(1).wipe_status, "AccountOnlyDeviceWipeSucceeded");
}

TEST(SimOrganisation, CancelWorksOnlyBeforeTheWipeIsSent) {
  SmallOrg s;
  auto found = s.org.findDevice(
      "contoso.com\\Users\\Tony Smith\\ExchangeActiveSyncDevices\\"
      "iPhone\xC2\xA7"
      "appl1");
  ASSERT_TRUE(found) << "backslashes and any case, as Exchange Online writes identities";
  auto ref = *found;
  auto nothing_pending = s.org.wipe(ref, false, true, kNow);
  ASSERT_TRUE(nothing_pending.has_value());
  EXPECT_NE(nothing_pending->find("No wipe request is pending"), std::string::npos);

  s.org.wipe(ref, false, false, kNow);
  EXPECT_FALSE(s.org.wipe(ref, false, true, kLater).has_value());
  EXPECT_EQ(s.device(0).wipe_status, "DeviceOk");
  EXPECT_EQ(s.device(0).wipe_request_ticks, 0);

  s.org.wipe(ref, false, false, kNow);
  s.org.syncAll(kLater);
  auto too_late = s.org.wipe(ref, false, true, kLater);
  ASSERT_TRUE(too_late.has_value());
  EXPECT_NE(too_late->find("CannotCancelWipe"), std::string::npos);
  EXPECT_EQ(s.device(0).wipe_status, "DeviceWipePending");
}

TEST(SimOrganisation, FindsMailboxesByEveryNameExchangeAccepts) {
  SmallOrg s;
  for (const char* id : {"contoso.com/Users/Tony Smith", "Tony Smith", "TSMITH",
                         "tony.smith@contoso.com", "11111111-2222-4333-a444-555555555555"}) {
    EXPECT_EQ(s.org.findMailbox(id), s.tony) << id;
  }
  EXPECT_EQ(s.org.findMailbox("nobody@contoso.com"), nullptr);
  std::string guid = s.device(0).guid.text();  // Exchange writes them in lower case
  for (char& c : guid) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto by_guid = s.org.findDevice(guid);
  ASSERT_TRUE(by_guid) << "a Guid matches in any case";
  EXPECT_EQ(by_guid->device, &s.device(0));
  EXPECT_FALSE(
      s.org.findDevice("contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/iPhone"
                       "\xC2\xA7NOPE"));
}

// Exchange refuses a name two mailboxes answer to rather than pick one; each is still found by
// its own names, in any case.
TEST(SimOrganisation, ANameTwoMailboxesShareFindsNeither) {
  SmallOrg s;
  MailboxFacts m;
  m.identity = "contoso.com/Users/Tony Smyth";
  m.name = "Tony Smyth";
  m.sam_account_name = "tsmyth";
  m.setPrimarySmtpAddress("tony.smyth@contoso.com");
  m.setProxyAddresses({"Tony.Smith@contoso.com"});  // Tony Smith's primary address
  SimMailbox* smyth = &s.org.addMailbox(m);
  s.tony = s.org.findMailbox("tsmith");  // addMailbox may move the mailboxes
  ASSERT_NE(s.tony, nullptr);
  bool ambiguous = false;
  EXPECT_EQ(s.org.findMailbox("tony.smith@CONTOSO.com", &ambiguous), nullptr);
  EXPECT_TRUE(ambiguous);
  EXPECT_EQ(s.org.findMailbox("TSMYTH", &ambiguous), smyth);
  EXPECT_FALSE(ambiguous);
  EXPECT_EQ(s.org.findMailbox("Tony Smith", &ambiguous), s.tony);
  EXPECT_FALSE(ambiguous);
  EXPECT_EQ(s.org.findMailbox("tony.smith@contoso.co", &ambiguous), nullptr);
  EXPECT_FALSE(ambiguous) << "not found is not ambiguous";
}

TEST(SimOrganisation, RemovingTheLastDeviceClearsHasPartnership) {
  SmallOrg s;
  s.org.removeDevice(s.find(s.device(0).guid.text()));
  EXPECT_TRUE(s.tony->facts.has_partnership);
  s.org.removeDevice(s.find(s.device(0).guid.text()));
  EXPECT_FALSE(s.tony->facts.has_partnership);
  EXPECT_EQ(s.org.deviceCount(), 0u);
}

TEST(SimOrganisation, GenerationIsDeterministicAndGivesEveryMailboxADevice) {
  GenerateOptions options{42, 50, 120, kNow};
  Organisation a = Organisation::generate(options);
  Organisation b = Organisation::generate(options);
  EXPECT_EQ(a.toJson(), b.toJson());
  EXPECT_EQ(a.mailboxes().size(), 50u);
  EXPECT_EQ(a.deviceCount(), 120u);
  for (const auto& m : a.mailboxes()) {
    EXPECT_FALSE(m.devices.empty()) << m.facts.name;
    for (const auto& d : m.devices) {
      EXPECT_LE(d.first_sync_ticks, kNow);
      EXPECT_LE(d.last_success_sync_ticks, kNow);
      EXPECT_FALSE(d.device_id.empty());
    }
  }
  options.seed = 43;
  EXPECT_NE(Organisation::generate(options).toJson(), a.toJson());
}

TEST(SimOrganisation, JsonRoundTripKeepsListsRulesWipesAndTimes) {
  SmallOrg s;
  s.org.policy.default_level = AccessLevel::kBlock;
  s.org.policy.rules.push_back({Characteristic::kDeviceType, "Android", AccessLevel::kQuarantine});
  ASSERT_TRUE(s.org.changeLists(*s.tony, s.add("APPL1"), s.add("OTHER"), kNow).ok());
  s.org.wipe(s.find(s.device(1).guid.text()), true, false, kNow);
  s.device(0).first_sync_ticks = kNow - 10'000'000;
  s.device(0).mobile_operator = "Contoso Mobile";
  s.device(0).client_version = "14.1";
  s.device(0).device_os_language = "de-de";
  s.tony->facts.setAlias("tony.smith");
  s.tony->facts.setUserPrincipalName("tsmith@corp.contoso.com");
  s.tony->facts.setProxyAddresses({"tony@contoso.onmicrosoft.com", "t.smith@contoso.com"});

  auto loaded = Organisation::fromJson(s.org.toJson());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->toJson(), s.org.toJson());
  SimMailbox* tony = loaded->findMailbox("tsmith");
  ASSERT_NE(tony, nullptr);
  EXPECT_EQ(tony->facts.blocked_device_ids, std::vector<std::string>{"OTHER"});
  EXPECT_EQ(loaded->policy.default_level, AccessLevel::kBlock);
  EXPECT_EQ(tony->devices[1].wipe_status, "AccountOnlyDeviceWipePending");
  EXPECT_EQ(tony->devices[0].mobile_operator, "Contoso Mobile");
  EXPECT_EQ(tony->devices[0].client_version, "14.1");
  EXPECT_EQ(tony->devices[0].device_os_language, "de-de");
  EXPECT_EQ(tony->facts.alias(), "tony.smith");
  EXPECT_EQ(tony->facts.userPrincipalName(), "tsmith@corp.contoso.com");
  EXPECT_EQ(tony->facts.primarySmtpAddress(), "tony.smith@contoso.com");
  EXPECT_EQ(tony->facts.proxyAddresses(),
            (std::vector<std::string>{"tony@contoso.onmicrosoft.com", "t.smith@contoso.com"}));
  EXPECT_EQ(tony->facts.guid, Guid("11111111-2222-4333-a444-555555555555"));
  EXPECT_EQ(tony->devices[1].guid, s.device(1).guid);
  EXPECT_EQ(loaded->findMailbox("T.Smith@contoso.com"), tony) << "found by a proxy address";
}

TEST(SimOrganisation, LoadingRejectsMalformedFilesClearly) {
  auto bad = Organisation::fromJson("{\"mailboxes\": [");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("organisation file"), std::string::npos);

  auto bad_guid = Organisation::fromJson(
      R"({"mailboxes": [{"identity": "contoso.com/Users/Tony", "name": "Tony",
                         "guid": "0f1e2d3c-4b5a-4978-a6b5-0000000APPL1"}]})");
  ASSERT_FALSE(bad_guid.ok());
  EXPECT_NE(bad_guid.error().message.find("\"0f1e2d3c-4b5a-4978-a6b5-0000000APPL1\" is not a GUID"),
            std::string::npos)
      << bad_guid.error().message;

  auto nul = Organisation::fromJson(
      R"({"mailboxes": [{"identity": "contoso.com/Users/Tony", "name": "Tony",
                         "alias": "to\u0000ny"}]})");
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.error().message.find("NUL"), std::string::npos) << nul.error().message;
}

// --- the cmdlets, as the bridge would run them -------------------------------------------

struct Run {
  CmdletOutcome outcome;
  std::vector<PsValue> objects;
};

Run run(Organisation& org, const BridgeRequest& request) {
  Run r;
  r.outcome =
      runCmdlet(org, request, kLater, [&](PsValue v) { r.objects.push_back(std::move(v)); });
  return r;
}

std::string prop(const PsValue& v, std::string_view name) {
  const PsValue* p = v.asObject()->property(name);
  return p && p->display() ? *p->display() : "";
}

TEST(SimCmdlets, GetMobileDeviceHonoursResultSizeWithExchangesWarning) {
  Organisation org = Organisation::generate({1, 700, 1500, kNow});
  auto capped = run(org, BridgeRequest{"Get-MobileDevice", {}});
  EXPECT_EQ(capped.objects.size(), 1000u);
  ASSERT_EQ(capped.outcome.warnings.size(), 1u);
  EXPECT_NE(capped.outcome.warnings[0].find("-ResultSize Unlimited"), std::string::npos);

  auto all = run(org, BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "Unlimited"));
  EXPECT_EQ(all.objects.size(), 1500u);
  EXPECT_TRUE(all.outcome.warnings.empty());

  auto ten = run(org, BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", std::int64_t{10}));
  EXPECT_EQ(ten.objects.size(), 10u);
  EXPECT_TRUE(ten.outcome.warnings.empty()) << "an explicit -ResultSize gets no warning";
}

TEST(SimCmdlets, UnknownIdentitiesGetExchangesNotFoundError) {
  SmallOrg s;
  for (const auto& request :
       {BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", "ghost@contoso.com"),
        BridgeRequest{"Clear-MobileDevice", {}}.with("Identity",
                                                     "ghost/ExchangeActiveSyncDevices/x"),
        BridgeRequest{"Set-CASMailbox", {}}.with("Identity", "ghost"),
        BridgeRequest{"Remove-MobileDevice", {}}.with("Identity", "ghost"),
        BridgeRequest{"Get-CASMailbox", {}}.with("Identity", "ghost")}) {
    auto r = run(s.org, request);
    ASSERT_TRUE(r.outcome.error) << request.cmdlet;
    EXPECT_EQ(r.outcome.error->code, BridgeErrc::kNotFound) << request.cmdlet;
    EXPECT_NE(r.outcome.error->message.find("couldn't be found"), std::string::npos);
  }
}

TEST(SimCmdlets, SetCasMailboxEditsTheListsAndGetShowsTheResult) {
  SmallOrg s;
  auto set = run(s.org, BridgeRequest{"Set-CASMailbox", {}}
                            .with("Identity", "tony.smith@contoso.com")
                            .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"APPL1"}, {}}));
  ASSERT_FALSE(set.outcome.error) << set.outcome.error->message;
  EXPECT_EQ(set.objects.size(), 0u) << "Set- cmdlets return nothing";

  auto device = run(s.org, BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", "tsmith"));
  ASSERT_EQ(device.objects.size(), 2u);
  EXPECT_EQ(prop(device.objects[0], "DeviceAccessState"), "Blocked");
  EXPECT_EQ(prop(device.objects[0], "DeviceAccessStateReason"), "Individual");

  auto both = run(s.org, BridgeRequest{"Set-CASMailbox", {}}
                             .with("Identity", "tsmith")
                             .with("ActiveSyncAllowedDeviceIDs", ListEdit{{"ANDROIDC2"}, {}})
                             .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"ANDROIDC2"}, {}}));
  ASSERT_TRUE(both.outcome.error);
  EXPECT_EQ(both.outcome.error->code, BridgeErrc::kDeviceIdInBothLists);
}

TEST(SimCmdlets, StatisticsNeedAScopeAndFiltersOutsideTheSubsetAreRefused) {
  SmallOrg s;
  auto unscoped = run(s.org, BridgeRequest{"Get-MobileDeviceStatistics", {}});
  ASSERT_TRUE(unscoped.outcome.error);
  EXPECT_EQ(unscoped.outcome.error->code, BridgeErrc::kInvalidArgument);

  auto stats =
      run(s.org, BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Mailbox", "tsmith"));
  ASSERT_EQ(stats.objects.size(), 2u);
  // Typed as Exchange 2013 and later type them, not as the agent once assumed.
  EXPECT_TRUE(stats.objects[0].asObject()->hasType(
      "Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDeviceConfiguration"));
  s.org.statistics_type = sim::kStatisticsTypeNames[1];
  auto older =
      run(s.org, BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Mailbox", "tsmith"));
  ASSERT_EQ(older.objects.size(), 2u);
  EXPECT_TRUE(
      older.objects[0].asObject()->hasType("Microsoft.Exchange.Data.Mapi.MobileDeviceStatistics"));

  auto blocked =
      run(s.org, BridgeRequest{"Get-MobileDevice", {}}.with("Filter", "DeviceType -eq 'Android'"));
  ASSERT_FALSE(blocked.outcome.error);
  ASSERT_EQ(blocked.objects.size(), 1u);
  EXPECT_EQ(prop(blocked.objects[0], "DeviceId"), "ANDROIDC2");

  auto unknown =
      run(s.org, BridgeRequest{"Get-MobileDevice", {}}.with("Filter", "FriendlyName -like '*'"));
  ASSERT_TRUE(unknown.outcome.error);
  EXPECT_NE(unknown.outcome.error->message.find("supports"), std::string::npos);
}

TEST(SimCmdlets, ClearMobileDeviceCancelWarnsWhenNothingIsPending) {
  SmallOrg s;
  std::string identity = partnershipIdentity(s.device(0));
  auto cancel =
      run(s.org,
          BridgeRequest{"Clear-MobileDevice", {}}.with("Identity", identity).with("Cancel", true));
  ASSERT_FALSE(cancel.outcome.error);
  ASSERT_EQ(cancel.outcome.warnings.size(), 1u);

  auto wipe = run(
      s.org,
      BridgeRequest{"Clear-MobileDevice", {}}.with("Identity", identity).with("AccountOnly", true));
  ASSERT_FALSE(wipe.outcome.error);
  auto device = run(s.org, BridgeRequest{"Get-MobileDevice", {}}.with("Identity", identity));
  ASSERT_EQ(device.objects.size(), 1u);
  auto stats =
      run(s.org, BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Identity", identity));
  ASSERT_EQ(stats.objects.size(), 1u);
  EXPECT_EQ(prop(stats.objects[0], "Status"), "AccountOnlyDeviceWipePending");
  EXPECT_FALSE(prop(stats.objects[0], "AccountOnlyDeviceWipeRequestTime").empty());
  EXPECT_TRUE(prop(stats.objects[0], "DeviceWipeRequestTime").empty());
}

}  // namespace
}  // namespace easgate::powershell::sim
