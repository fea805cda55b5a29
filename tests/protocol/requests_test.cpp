#include <gtest/gtest.h>

#include <string>

#include "common/time/utc_time.h"
#include "protocol/command_kinds.h"
#include "protocol/requests.h"
#include "protocol/validation.h"

namespace easgate::protocol {
namespace {

TEST(Validation, MailboxesAreWhatExchangeTakesButNeverAWildcard) {
  EXPECT_FALSE(mailboxProblem("ann.berg@contoso.com"));
  EXPECT_FALSE(mailboxProblem("contoso.com/Users/Ann Berg"));
  EXPECT_FALSE(mailboxProblem("CONTOSO\\ann"));
  EXPECT_FALSE(mailboxProblem("Doe, John"));
  EXPECT_TRUE(mailboxProblem(""));
  EXPECT_TRUE(mailboxProblem("ann*"));
  EXPECT_TRUE(mailboxProblem(" ann"));
  EXPECT_TRUE(mailboxProblem("ann\n"));
  EXPECT_TRUE(mailboxProblem(std::string(257, 'a')));
  EXPECT_FALSE(mailboxProblem(std::string(256, 'a')));
}

TEST(Validation, NamesThatLookLikeOtherNamesAreRefused) {
  EXPECT_FALSE(mailboxProblem("zoë.ünal@contoso.com")) << "letters beyond ASCII are fine";
  // A right-to-left override makes "moc.osotnoc@nna" read as something else.
  auto bidi = mailboxProblem("ann\u202E@contoso.com");
  ASSERT_TRUE(bidi);
  EXPECT_NE(bidi->find("U+202E"), std::string::npos) << *bidi;
  EXPECT_TRUE(mailboxProblem("ann\u200B.berg@contoso.com")) << "a zero-width space";
  EXPECT_TRUE(mailboxProblem("\uFEFFann@contoso.com")) << "a byte-order mark";
  EXPECT_TRUE(mailboxProblem("ann\xED\xA0\x80x")) << "a surrogate in UTF-8 is no character";
  EXPECT_TRUE(partnershipProblem("ann\u2066/ExchangeActiveSyncDevices/iPhone\u00A7A1"));
}

TEST(Cursors, RoundTripAndRefuseWhatTheAgentCouldNotHaveGiven) {
  const std::string key = "contoso.com/users/zoë/exchangeactivesyncdevices/iphone§a1";
  EXPECT_EQ(decodeCursor(encodeCursor(key)), key);
  EXPECT_FALSE(decodeCursor("garbage"));
  EXPECT_FALSE(decodeCursor("d1"));
  EXPECT_FALSE(decodeCursor("d1a"));
  EXPECT_FALSE(decodeCursor("d1zz"));
  EXPECT_FALSE(decodeCursor("D16e"));
}

TEST(Validation, DeviceIdsFollowMsAsHttp) {
  EXPECT_FALSE(deviceIdProblem("ABCDEF0123456789abcdef0123456789"));  // 32
  EXPECT_TRUE(deviceIdProblem("ABCDEF0123456789abcdef01234567890"));  // 33
  EXPECT_TRUE(deviceIdProblem(""));
  EXPECT_TRUE(deviceIdProblem("ABC-123"));
  EXPECT_TRUE(deviceIdProblem("ABC 123"));
  EXPECT_TRUE(deviceIdProblem("Ä1"));
}

TEST(Validation, PartnershipsNameAMailboxAndADevice) {
  EXPECT_FALSE(partnershipProblem("contoso.com/Users/Ann/ExchangeActiveSyncDevices/iPhone§ABC"));
  EXPECT_FALSE(partnershipProblem("Ann\\ExchangeActiveSyncDevices\\iPhone§ABC"));
  EXPECT_TRUE(partnershipProblem("contoso.com/Users/Ann"));
  EXPECT_TRUE(partnershipProblem("contoso.com/Users/Ann/ExchangeActiveSyncDevices/"));
  EXPECT_TRUE(partnershipProblem("/ExchangeActiveSyncDevices/iPhone"));
  EXPECT_TRUE(partnershipProblem("*/ExchangeActiveSyncDevices/iPhone"));
  EXPECT_TRUE(partnershipProblem("AnnExchangeActiveSyncDevices/x"));
}

TEST(Validation, APartnershipsMailboxIsReadOneWayInEitherFormAndAnyCase) {
  EXPECT_EQ(
      mailboxOfPartnership("contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/iPhone§F2MV"),
      "contoso.com/Users/Tony Smith");
  EXPECT_EQ(mailboxOfPartnership("Lila\\ExchangeActiveSyncDevices\\REST§Outlook§5eec4e94"), "Lila");
  EXPECT_EQ(mailboxOfPartnership("Ann/exchangeactivesyncdevices/iPhone§A1"), "Ann");
  EXPECT_EQ(mailboxOfPartnership("ExchangeActiveSyncDevices-user/ExchangeActiveSyncDevices/x"),
            "ExchangeActiveSyncDevices-user");
  EXPECT_EQ(mailboxOfPartnership("iPhone§F2MV"), "");
  // What is refused at the edge is what the harvest cannot read as a partnership either.
  EXPECT_FALSE(partnershipProblem("Ann/exchangeactivesyncdevices/iPhone§A1"));
}

TEST(Validation, IdempotencyKeysArePrintableAndBounded) {
  EXPECT_FALSE(idempotencyKeyProblem("mdm-7f3a-0001"));
  EXPECT_TRUE(idempotencyKeyProblem("has space"));
  EXPECT_TRUE(idempotencyKeyProblem(std::string(201, 'k')));
}

struct BadBody {
  std::string body;
  int status;
  std::string code;
  std::string field;
};

class CommandBodies : public ::testing::TestWithParam<BadBody> {};

TEST_P(CommandBodies, AreRefusedWithTheFieldNamed) {
  auto r = parseCommandSubmission(GetParam().body);
  ASSERT_FALSE(r.ok()) << GetParam().body;
  EXPECT_EQ(r.error().status, GetParam().status);
  EXPECT_EQ(r.error().code, GetParam().code) << r.error().message;
  EXPECT_EQ(r.error().field, GetParam().field) << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, CommandBodies,
    ::testing::Values(
        BadBody{"not json", 400, "invalid-json", ""}, BadBody{"[1]", 400, "invalid-json", ""},
        BadBody{R"({"kind":"allow","mailbox":"a","deviceId":"B","color":"red"})", 400,
                "unknown-field", "color"},
        BadBody{R"({"mailbox":"a","deviceId":"B"})", 400, "missing-field", "kind"},
        BadBody{R"({"kind":"format-c"})", 400, "invalid-field", "kind"},
        BadBody{R"({"kind":"allow","mailbox":7,"deviceId":"B"})", 400, "invalid-field", "mailbox"},
        BadBody{R"({"kind":"allow","deviceId":"B"})", 400, "missing-field", "mailbox"},
        BadBody{R"({"kind":"allow","mailbox":"a*","deviceId":"B"})", 400, "invalid-field",
                "mailbox"},
        BadBody{R"({"kind":"block","mailbox":"a"})", 400, "missing-field", "deviceId"},
        BadBody{R"({"kind":"block","mailbox":"a","deviceId":"B-1"})", 400, "invalid-field",
                "deviceId"},
        BadBody{R"({"kind":"allow","mailbox":"a","deviceId":"B","partnership":"p"})", 400,
                "invalid-field", "partnership"},
        BadBody{R"({"kind":"wipe"})", 400, "missing-field", "partnership"},
        BadBody{R"({"kind":"wipe","partnership":"a/ExchangeActiveSyncDevices/x","deviceId":"B"})",
                400, "invalid-field", "deviceId"},
        BadBody{R"({"kind":"wipe","partnership":"nope"})", 400, "invalid-field", "partnership"},
        BadBody{std::string(300 * 1024, ' '), 413, "body-too-large", ""}));

TEST(CommandBodies, AcceptWhatEachKindNeeds) {
  auto allow = parseCommandSubmission(R"({"kind":"allow","mailbox":"ann","deviceId":"ABC1"})");
  ASSERT_TRUE(allow.ok()) << allow.error().message;
  EXPECT_EQ(allow->mailbox, "ann");
  EXPECT_EQ(allow->device_id, "ABC1");
  auto wipe = parseCommandSubmission(
      R"({"kind":"wipe-account-only","partnership":"ann/ExchangeActiveSyncDevices/iPhone§A"})");
  ASSERT_TRUE(wipe.ok()) << wipe.error().message;
  EXPECT_EQ(wipe->kind, "wipe-account-only");
}

TEST(DeviceIdLists, RefuseDuplicatesIgnoringCaseAndTooManyIds) {
  auto dup = parseDeviceIdListBody(R"({"deviceIds":["abc1","ABC1"]})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().field, "deviceIds[1]");
  std::string many = R"({"deviceIds":[)";
  for (int i = 0; i < 1001; ++i) many += (i ? ",\"D" : "\"D") + std::to_string(i) + "\"";
  many += "]}";
  auto big = parseDeviceIdListBody(many);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().field, "deviceIds");
  auto empty = parseDeviceIdListBody(R"({"deviceIds":[]})");
  ASSERT_TRUE(empty.ok()) << "an empty list clears the allowed list";
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(parseDeviceIdListBody("{}").error().code, "missing-field");
}

TEST(Queries, InventoryParametersAreCheckedAndUnknownOnesRefused) {
  auto ok = parseInventoryQuery({{"mailbox", "ann"},
                                 {"accessState", "Quarantined"},
                                 {"seenSince", "2026-11-01T00:00:00Z"},
                                 {"limit", "1000"}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->limit, 1000u);
  EXPECT_EQ(*ok->seen_since_ms, 1793491200000);
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"limit", "0"},
                                                        {"limit", "1001"},
                                                        {"limit", "ten"},
                                                        {"accessState", "Allow"},
                                                        {"seenSince", "yesterday"},
                                                        {"seenSince", "2026-02-30T00:00:00Z"},
                                                        {"mailbox", "*"},
                                                        {"q", ""},
                                                        {"q", std::string(65, 'a')},
                                                        {"q", "ann\x01"},
                                                        {"colour", "red"}}) {
    auto r = parseInventoryQuery({{name, value}});
    ASSERT_FALSE(r.ok()) << name << "=" << value;
    EXPECT_EQ(r.error().field, name);
    EXPECT_EQ(r.error().status, 400);
  }
  EXPECT_FALSE(parseInventoryQuery({{"limit", "5"}, {"limit", "6"}}).ok()) << "repeated";
  // An access state in any case, as Exchange's enums bind; kept as Exchange spells it.
  EXPECT_EQ(parseInventoryQuery({{"accessState", "quarantined"}})->access_state, "Quarantined");
  EXPECT_EQ(parseInventoryQuery({{"accessState", "DEVICEDISCOVERY"}})->access_state,
            "DeviceDiscovery");
  EXPECT_EQ(parseInventoryQuery({{"q", "Ann B"}})->search, "Ann B");
}

TEST(Queries, EventWaitsAreBounded) {
  EXPECT_EQ(parseEventsQuery({{"wait", "60"}})->wait_seconds, 60);
  EXPECT_EQ(parseEventsQuery({{"wait", "61"}}).error().field, "wait");
  EXPECT_EQ(parseEventsQuery({{"after", "-1"}}).error().field, "after");
}

TEST(QueryStrings, DecodePercentEscapesAndRefuseBrokenOnes) {
  auto q = parseQueryString("mailbox=Ann%20Berg%40contoso.com&limit=5&&x");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[0].second, "Ann Berg@contoso.com");
  EXPECT_EQ((*q)[2].first, "x");
  EXPECT_FALSE(parseQueryString("a=%zz").ok());
  EXPECT_FALSE(parseQueryString("a=%4").ok());
  EXPECT_FALSE(parseQueryString("a=%ff").ok()) << "not UTF-8";
  EXPECT_EQ(*percentDecode(percentEncode("a/b§ c"), false), "a/b§ c");
}

TEST(Times, RoundTripThroughIso8601) {
  // One format for every time easgate writes: Exchange's devices' and its own.
  EXPECT_EQ(utc::formatUnixMs(1793491200123), "2026-11-01T00:00:00.1230000Z");
  EXPECT_EQ(utc::formatUnixMs(1793491200000), "2026-11-01T00:00:00Z");
  EXPECT_EQ(*parseUtcTime(utc::formatUnixMs(1793491200123)), 1793491200123);
  EXPECT_EQ(*parseUtcTime("2026-11-01T00:00:00.123Z"), 1793491200123);
  EXPECT_FALSE(parseUtcTime("2026-11-01T00:00:00+01:00"));
  EXPECT_FALSE(parseUtcTime("2026-11-01"));
}

// One table names every command kind: what POST /v1/commands takes is exactly its posted rows,
// and a kind it does not take is refused with the list of those it does.
TEST(CommandKinds, PostTakesExactlyThePostedKindsAndNamesThemWhenRefusing) {
  for (const auto& k : kCommandKindTable) {
    const std::string target = k.target == CommandTarget::kPartnership
                                   ? R"("partnership":"ann/ExchangeActiveSyncDevices/x")"
                                   : R"("mailbox":"ann","deviceId":"D1")";
    auto parsed =
        parseCommandSubmission(R"({"kind":")" + std::string(k.name) + "\"," + target + "}");
    EXPECT_EQ(parsed.ok(), k.posted) << k.name;
    EXPECT_EQ(commandKindNamed(k.name), &k);
  }
  auto refused = parseCommandSubmission(R"({"kind":"set-allowed","mailbox":"ann"})");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().field, "kind");
  EXPECT_NE(refused.error().message.find("allow, revoke, block, unblock, wipe, wipe-account-only, "
                                         "cancel-wipe, remove-partnership"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(commandKindNamed("remove"), nullptr) << "ctl's alias is no kind on the wire";
}

}  // namespace
}  // namespace easgate::protocol
