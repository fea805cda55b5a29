// The /v1 protocol as the MDM meets it, minus the network: every answer is also checked
// against protocol/openapi.json. (tests/service/tls_end_to_end_test.cpp adds TLS.)
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/api/api_service.h"
#include "agent/audit/audit_log.h"
#include "agent/commands/command_executor.h"
#include "agent/export/inventory_writer.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "common/json/json_value.h"
#include "powershell/exchange/access_decision.h"
#include "powershell/sim/organisation.h"
#include "protocol/requests.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/openapi_check.h"
#include "tests/support/scratch.h"

namespace easgate::agent::api {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;
using transport::HttpRequest;
using transport::HttpResponse;
using transport::PeerIdentity;

PeerIdentity peer(const std::string& cn) {
  return PeerIdentity{true, "CN=" + cn + ",O=Test", cn, std::string(64, cn[0] == 'r' ? 'a' : 'b'),
                      "127.0.0.1"};
}

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratchPath("api");
    fs::remove_all(dir_);
    db_ = store::openStore(store::storeFile(dir_)).value();
    harvest_db_ = store::openStore(store::storeFile(dir_)).value();
    harvest_directory_ = openDirectory(directoryFile(store::storeFile(dir_))).value();
    inventory_ = InventoryStore::open(inventoryFile(store::storeFile(dir_))).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    harvester_ = std::make_unique<Harvester>(*harvest_directory_, *harvest_db_, *inventory_,
                                             gateway_, journal_.get(), clock_);
    directory_db_ = store::openStore(store::storeFile(dir_)).value();
    directory_file_ = openDirectory(directoryFile(store::storeFile(dir_))).value();
    directory_ = std::make_unique<MailboxDirectory>(*directory_file_, *directory_db_);
    executor_ = std::make_unique<CommandExecutor>(*journal_, gateway_, *directory_, clock_);
    ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
    auto readers = openReaders(dir_, 2).value();
    ApiOptions options;
    options.version = "test";
    options.exchange = "fake";
    options.requests_per_second = 10;
    options.burst = 1000;
    std::vector<ClientRule> rules = {{"CN=reader", "", Role::kReader},
                                     {"CN=operator,O=Test", "", Role::kOperator},
                                     {"", std::string(64, 'b'), Role::kAdmin}};
    api_ = std::make_unique<ApiService>(
        std::move(readers), *journal_, clock_, AccessPolicy(rules, Role::kNone), options,
        [] {
          return BridgeCounters{2, 1, 0, 5, 0};
        },
        [this] { ++submitted_; });
  }
  void TearDown() override {
    api_.reset();
    executor_.reset();
    directory_.reset();
    directory_file_.reset();
    directory_db_.reset();
    harvester_.reset();
    harvest_directory_.reset();
    journal_.reset();
    audit_.reset();
    inventory_.reset();
    harvest_db_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  // One request; the answer must be one the OpenAPI document allows.
  HttpResponse call(const PeerIdentity& who, const std::string& method, const std::string& target,
                    const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.peer = who;
    r.headers = std::move(headers);
    if (!body.empty()) r.headers.emplace_back("content-type", "application/json");
    // A long-poll is waited for here as the listener waits for it.
    HttpResponse response = transport::awaitResponse(api_->handle(r));
    const std::string path = target.substr(0, target.find('?'));
    if (response.status != 404 && response.status != 405) {
      EXPECT_EQ(testing::openApiViolation(method, path, response.status, response.body), "")
          << method << " " << target << " -> " << response.status << " " << response.body;
    }
    return response;
  }

  // A member's text; fails the test (not the process) when it is missing.
  static std::string text(const json::JsonValue& v, const char* key) {
    const json::JsonValue* m = v.find(key);
    EXPECT_TRUE(m && m->asString()) << "no text member " << key;
    return m && m->asString() ? *m->asString() : "";
  }

  json::JsonValue parse(const HttpResponse& r) {
    auto doc = json::parseJson(r.body);
    EXPECT_TRUE(doc.ok()) << r.body;
    return doc.ok() ? doc.value() : json::JsonValue();
  }

  std::string header(const HttpResponse& r, const std::string& name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }

  // A second service on the same store, for two readers ("CN=reader", "CN=other"), with options
  // of its own.
  std::unique_ptr<ApiService> readersOnlyService(const ApiOptions& options) {
    return std::make_unique<ApiService>(
        openReaders(dir_, 1).value(), *journal_, clock_,
        AccessPolicy({{"CN=reader", "", Role::kReader}, {"CN=other", "", Role::kReader}},
                     Role::kNone),
        options, nullptr, nullptr);
  }

  const sim::SimMailbox& mailbox() { return gateway_.organisation().mailboxes()[0]; }
  const sim::MailboxFacts& facts() { return mailbox().facts; }
  std::string partnership() { return sim::partnershipIdentity(mailbox().devices[0]); }

  testing::ManualClock clock_{1'800'000'000'000};
  testing::FakeExchangeGateway gateway_{
      sim::Organisation::generate({3, 30, 60, sim::dotNetTicksFromUnixSeconds(1'799'000'000)})};
  fs::path dir_;
  std::unique_ptr<store::Database> db_, harvest_db_, harvest_directory_;
  std::unique_ptr<InventoryStore> inventory_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<Harvester> harvester_;
  std::unique_ptr<store::Database> directory_db_, directory_file_;
  std::unique_ptr<MailboxDirectory> directory_;
  std::unique_ptr<CommandExecutor> executor_;
  std::unique_ptr<ApiService> api_;
  int submitted_ = 0;
  PeerIdentity reader_ = peer("reader");
  PeerIdentity operator_ = peer("operator");
  PeerIdentity admin_ = peer("boss");  // matched by thumbprint
};

TEST_F(Api, RolesDecideWhatAClientMayDo) {
  const std::string allow = R"({"kind":"allow","mailbox":"m1","deviceId":"ABC1"})";
  const std::string wipe = R"({"kind":"wipe","partnership":")" + partnership() + "\"}";
  EXPECT_EQ(call(reader_, "GET", "/v1/devices").status, 200);
  EXPECT_EQ(call(reader_, "POST", "/v1/commands", allow).status, 403);
  EXPECT_EQ(call(operator_, "POST", "/v1/commands", allow).status, 202);
  HttpResponse operator_wipe = call(operator_, "POST", "/v1/commands", wipe);
  EXPECT_EQ(operator_wipe.status, 403) << "wiping needs admin";
  EXPECT_EQ(parse(operator_wipe).find("field")->asString()[0], "kind");
  EXPECT_EQ(call(admin_, "POST", "/v1/commands", wipe).status, 202);
  EXPECT_EQ(submitted_, 2) << "the loop is woken for each journaled command";
  // Who tried to do what they may not is in the audit trail, beside what was done.
  auto q = db_->prepare(
      "SELECT actor, action, target, outcome FROM audit WHERE outcome LIKE 'denied:%' ORDER BY "
      "sequence");
  ASSERT_TRUE(q.ok());
  std::vector<std::string> denied;
  while (q->step().value()) {
    denied.push_back(q->text(0).substr(0, 9) + "|" + q->text(1) + "|" + q->text(2));
  }
  // The reader's refusal names the command it tried, not only the route.
  EXPECT_EQ(denied,
            (std::vector<std::string>{"CN=reader|allow|m1", "CN=operat|wipe|" + partnership()}));
  EXPECT_TRUE(audit_->verify().ok());

  PeerIdentity stranger = peer("stranger");
  stranger.thumbprint = std::string(64, 'c');
  EXPECT_EQ(call(stranger, "GET", "/v1/health").status, 401) << "signed by the CA, but no role";
  EXPECT_EQ(call(PeerIdentity{}, "GET", "/v1/health").status, 401);
}

// "Who wiped what, and when?" has one answer: GET /v1/audit, for admins, newest first, with
// the command, the certificate, the outcome and refusals, filtered and paged.
TEST_F(Api, TheAuditTrailAnswersWhoWipedWhatAndWhen) {
  const std::string wipe = R"({"kind":"wipe","partnership":")" + partnership() + "\"}";
  const std::string allow = R"({"kind":"allow","mailbox":"m1","deviceId":"ABC1"})";
  ASSERT_EQ(call(operator_, "POST", "/v1/commands", wipe).status, 403);  // refused
  clock_.advance(60'000);
  HttpResponse wiped = call(admin_, "POST", "/v1/commands", wipe);
  ASSERT_EQ(wiped.status, 202) << wiped.body;
  const std::int64_t wipe_id = *parse(wiped).find("id")->asInt();
  ASSERT_EQ(call(operator_, "POST", "/v1/commands", allow).status, 202);

  EXPECT_EQ(call(operator_, "GET", "/v1/audit").status, 403) << "the trail is for admins";
  HttpResponse all = call(admin_, "GET", "/v1/audit");
  ASSERT_EQ(all.status, 200) << all.body;
  const json::JsonValue all_page = parse(all);
  const json::JsonArray& entries = *all_page.find("entries")->asArray();
  ASSERT_GE(entries.size(), 3u);
  EXPECT_EQ(text(entries[0], "action"), "allow") << "newest first";

  HttpResponse wipes = call(admin_, "GET", "/v1/audit?action=wipe");
  ASSERT_EQ(wipes.status, 200);
  const json::JsonValue page = parse(wipes);
  const json::JsonArray& found = *page.find("entries")->asArray();
  ASSERT_EQ(found.size(), 2u) << wipes.body;
  EXPECT_EQ(text(found[0], "outcome"), "accepted");
  EXPECT_EQ(*found[0].find("command")->asInt(), wipe_id);
  EXPECT_NE(text(found[0], "actor").find("sha256:bbbbbbbbbbbbbbbb"), std::string::npos)
      << "which certificate";
  EXPECT_EQ(text(found[0], "target"), partnership());
  EXPECT_EQ(text(found[0], "at"), "2027-01-15T08:01:00Z");
  EXPECT_EQ(text(found[1], "outcome").rfind("denied: ", 0), 0u) << "the operator's attempt";
  EXPECT_TRUE(found[1].find("command")->isNull());
  EXPECT_TRUE(page.find("nextBefore")->isNull()) << "nothing older matches";

  // Filters: who (any case), on what, since when.
  HttpResponse by_actor = call(admin_, "GET", "/v1/audit?actor=cn%3DOPERATOR&action=wipe");
  EXPECT_EQ(parse(by_actor).find("entries")->asArray()->size(), 1u) << by_actor.body;
  HttpResponse later = call(admin_, "GET", "/v1/audit?action=wipe&since=2027-01-15T08:00:30Z");
  EXPECT_EQ(parse(later).find("entries")->asArray()->size(), 1u) << later.body;
  HttpResponse target =
      call(admin_, "GET", "/v1/audit?target=" + protocol::percentEncode(partnership()));
  EXPECT_EQ(parse(target).find("entries")->asArray()->size(), 2u) << target.body;

  // Paging, newest to oldest, without gaps or repeats.
  std::vector<std::int64_t> sequences;
  std::string next = "/v1/audit?limit=2";
  while (!next.empty()) {
    const json::JsonValue p = parse(call(admin_, "GET", next));
    for (const auto& e : *p.find("entries")->asArray())
      sequences.push_back(*e.find("sequence")->asInt());
    const json::JsonValue* before = p.find("nextBefore");
    next = before->isNull() ? "" : "/v1/audit?limit=2&before=" + std::to_string(*before->asInt());
  }
  ASSERT_EQ(sequences.size(), entries.size());
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    EXPECT_EQ(sequences[i], static_cast<std::int64_t>(sequences.size() - i));
  }

  // Bad input names its field.
  for (const auto& [query, field] :
       std::vector<std::pair<std::string, std::string>>{{"since=yesterday", "since"},
                                                        {"limit=0", "limit"},
                                                        {"before=-1", "before"},
                                                        {"actor=", "actor"},
                                                        {"colour=red", "colour"}}) {
    HttpResponse bad = call(admin_, "GET", "/v1/audit?" + query);
    EXPECT_EQ(bad.status, 400) << query;
    const json::JsonValue answer = parse(bad);
    const json::JsonValue* f = answer.find("field");
    EXPECT_TRUE(f && f->asString() && *f->asString() == field) << query << ": " << bad.body;
  }
}

// "Harvest now": an operator asks, the loop is told which kind, the answer says when it was
// asked so a client can tell the harvest that follows from the one before.
TEST_F(Api, AHarvestIsRunNowWhenAnOperatorAsks) {
  std::vector<HarvestKind> asked;
  api_->onHarvestRequested([&](HarvestKind kind) { asked.push_back(kind); });
  EXPECT_EQ(call(reader_, "POST", "/v1/harvests").status, 403);
  HttpResponse delta = call(operator_, "POST", "/v1/harvests");
  ASSERT_EQ(delta.status, 202) << delta.body;
  EXPECT_EQ(text(parse(delta), "kind"), "delta") << "no body: a delta harvest";
  EXPECT_EQ(text(parse(delta), "requestedAt"), "2027-01-15T08:00:00Z");
  HttpResponse full = call(operator_, "POST", "/v1/harvests", R"({"kind":"Full"})");
  ASSERT_EQ(full.status, 202) << full.body;
  EXPECT_EQ(asked, (std::vector<HarvestKind>{HarvestKind::kDelta, HarvestKind::kFull}));

  HttpResponse weekly = call(operator_, "POST", "/v1/harvests", R"({"kind":"weekly"})");
  EXPECT_EQ(weekly.status, 400);
  EXPECT_EQ(text(parse(weekly), "field"), "kind");
  EXPECT_EQ(call(operator_, "POST", "/v1/harvests", R"({"when":"now"})").status, 400);
  EXPECT_EQ(asked.size(), 2u) << "nothing asked for on bad input";
}

TEST_F(Api, ACommandIsJournaledWithTheClientsIdentityBeforeTheAnswer) {
  HttpResponse r = call(
      operator_, "POST",
      "/v1/mailboxes/" + protocol::percentEncode(facts().primarySmtpAddress()) + "/lists/blocked",
      R"({"deviceId":"DEAD1"})");
  ASSERT_EQ(r.status, 202) << r.body;
  const json::JsonValue body = parse(r);
  const std::int64_t id = *body.find("id")->asInt();
  EXPECT_EQ(header(r, "Location"), "/v1/commands/" + std::to_string(id));
  auto journaled = journal_->get(id);
  ASSERT_TRUE(journaled.ok());
  EXPECT_EQ(journaled->request.kind, CommandKind::kBlock);
  EXPECT_EQ(journaled->request.device_id, "DEAD1");
  EXPECT_EQ(journaled->request.requested_by.rfind("CN=operator,O=Test", 0), 0u);
  EXPECT_EQ(journaled->deadline_ms, clock_.nowMs() + 7LL * 24 * 3600 * 1000) << "7 days by default";

  HttpResponse state = call(reader_, "GET", "/v1/commands/" + std::to_string(id));
  EXPECT_EQ(state.status, 200);
  EXPECT_EQ(*parse(state).find("state")->asString(), "queued");
  EXPECT_EQ(call(reader_, "GET", "/v1/commands/99999").status, 404);
  EXPECT_EQ(call(reader_, "GET", "/v1/commands/abc").status, 400);
}

TEST_F(Api, TheListRoutesBecomeTheRightCommands) {
  const std::string m = protocol::percentEncode(facts().identity);
  struct Case {
    std::string method, target, body;
    CommandKind kind;
  } cases[] = {
      {"POST", "/v1/mailboxes/" + m + "/lists/allowed", R"({"deviceId":"A1"})",
       CommandKind::kAllow},
      {"DELETE", "/v1/mailboxes/" + m + "/lists/allowed/A1", "", CommandKind::kRevoke},
      {"POST", "/v1/mailboxes/" + m + "/lists/blocked", R"({"deviceId":"B1"})",
       CommandKind::kBlock},
      {"DELETE", "/v1/mailboxes/" + m + "/lists/blocked/B1", "", CommandKind::kUnblock},
      {"PUT", "/v1/mailboxes/" + m + "/lists/allowed", R"({"deviceIds":["C1","C2"]})",
       CommandKind::kSetAllowed},
      {"PUT", "/v1/mailboxes/" + m + "/lists/blocked", R"({"deviceIds":["D1"]})",
       CommandKind::kSetBlocked},
  };
  for (const auto& c : cases) {
    HttpResponse r = call(operator_, c.method, c.target, c.body);
    ASSERT_EQ(r.status, 202) << c.method << " " << c.target << ": " << r.body;
    EXPECT_EQ(journal_->get(*parse(r).find("id")->asInt())->request.kind, c.kind) << c.target;
  }
  EXPECT_EQ(call(operator_, "PUT", "/v1/mailboxes/" + m + "/lists/greylist", R"({"deviceIds":[]})")
                .status,
            404)
      << "a mailbox has two lists";
  while (executor_->runDue().value() > 0) {
  }
  // The mailbox by its Identity and by its SMTP address, in another case: one mailbox.
  std::string upper_address = facts().primarySmtpAddress();
  for (char& ch : upper_address)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& name : {m, protocol::percentEncode(upper_address)}) {
    HttpResponse lists = call(reader_, "GET", "/v1/mailboxes/" + name + "/lists");
    ASSERT_EQ(lists.status, 200) << lists.body;
    const json::JsonValue lists_body = parse(lists);
    EXPECT_EQ(text(lists_body, "mailbox"), facts().identity);
    EXPECT_EQ(text(lists_body, "key"), facts().guid.text());
    const auto* desired = lists_body.find("desiredAllowed")->asArray();
    ASSERT_NE(desired, nullptr) << "the PUT made the list managed";
    EXPECT_EQ(desired->size(), 2u);
    const auto* desired_blocked = lists_body.find("desiredBlocked")->asArray();
    ASSERT_NE(desired_blocked, nullptr);
    ASSERT_EQ(desired_blocked->size(), 1u);
    EXPECT_EQ(*(*desired_blocked)[0].asString(), "D1");
    // Read back from Exchange after the edits: current before any harvest.
    const auto* blocked = lists_body.find("blocked")->asArray();
    ASSERT_NE(blocked, nullptr);
    ASSERT_EQ(blocked->size(), 1u);
    EXPECT_EQ(*(*blocked)[0].asString(), "D1");
  }
  EXPECT_EQ(call(reader_, "GET", "/v1/mailboxes/nobody%40nowhere/lists").status, 404);
}

TEST_F(Api, EveryValidationErrorIsA4xxWithAJsonBodyNamingTheField) {
  const std::string m = protocol::percentEncode(facts().identity);
  struct Case {
    std::string method, target, body;
    int status;
    std::string field;
  } cases[] = {
      {"POST", "/v1/commands", R"({"kind":"allow"})", 400, "mailbox"},
      {"POST", "/v1/commands", R"({"kind":"allow","mailbox":"m","deviceId":"x_1"})", 400,
       "deviceId"},
      {"POST", "/v1/commands", R"({"kind":"allow","mailbox":"m","deviceId":"X","extra":1})", 400,
       "extra"},
      {"POST", "/v1/mailboxes/" + m + "/lists/allowed", R"({"deviceId":""})", 400, "deviceId"},
      {"POST", "/v1/mailboxes/a%2A/lists/allowed", R"({"deviceId":"A"})", 400, "mailbox"},
      {"DELETE", "/v1/mailboxes/" + m + "/lists/allowed/not-an-id", "", 400, "deviceId"},
      {"PUT", "/v1/mailboxes/" + m + "/lists/allowed", R"({"deviceIds":"A1"})", 400, "deviceIds"},
      {"GET", "/v1/devices?limit=5000", "", 400, "limit"},
      {"GET", "/v1/devices?sort=name", "", 400, "sort"},
      {"GET", "/v1/devices/nonsense", "", 400, "identity"},
      {"GET", "/v1/events?wait=100", "", 400, "wait"},
      // Each list's parameters, and only its own.
      {"GET", "/v1/devices?seenSince=yesterday", "", 400, "seenSince"},
      {"GET", "/v1/devices?q=", "", 400, "q"},
      {"GET", "/v1/devices?deviceType=" + std::string(65, 'x'), "", 400, "deviceType"},
      {"GET", "/v1/devices?cursor=d1zz", "", 400, "cursor"},
      {"GET", "/v1/events?limit=0", "", 400, "limit"},
      {"GET", "/v1/events?cursor=d100", "", 400, "cursor"},
      {"GET", "/v1/audit?cursor=d100", "", 400, "cursor"},
      {"GET", "/v1/audit?target=" + std::string(257, 'x'), "", 400, "target"},
      // Names that look like other names: a bidi override, a zero-width space (in the body and
      // in the path), a partnership with a bidi isolate.
      {"POST", "/v1/commands",
       "{\"kind\":\"allow\",\"mailbox\":\"ann\u202e@contoso.com\",\"deviceId\":\"A\"}", 400,
       "mailbox"},
      {"POST", "/v1/mailboxes/ann%E2%80%8B%40contoso.com/lists/allowed", R"({"deviceId":"A"})", 400,
       "mailbox"},
      {"POST", "/v1/commands",
       "{\"kind\":\"wipe\",\"partnership\":\"ann\u2066/ExchangeActiveSyncDevices/x\"}", 400,
       "partnership"},
  };
  for (const auto& c : cases) {
    HttpResponse r = call(admin_, c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " " << c.body << ": " << r.body;
    const json::JsonValue e = parse(r);
    ASSERT_TRUE(e.find("code") && e.find("message")) << r.body;
    ASSERT_TRUE(e.find("field")) << "every error names its field, or null: " << r.body;
    EXPECT_EQ(e.find("field")->isNull() ? "" : *e.find("field")->asString(), c.field) << r.body;
  }
  // An unpaired surrogate is refused, not turned into U+FFFD and journaled.
  HttpResponse lone = call(admin_, "POST", "/v1/commands",
                           R"({"kind":"allow","mailbox":"ann\ud800x","deviceId":"A"})");
  EXPECT_EQ(lone.status, 400) << lone.body;
  EXPECT_NE(lone.body.find("surrogate"), std::string::npos) << lone.body;
  EXPECT_EQ(submitted_, 0) << "nothing reached the journal";
  HttpResponse no_type = call(admin_, "POST", "/v1/commands", "kind=allow",
                              {{"content-type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(no_type.status, 415);
  HttpResponse no_body = call(admin_, "POST", "/v1/commands", "", {});
  EXPECT_EQ(no_body.status, 400) << "no body is no command";
  HttpResponse broken = call(admin_, "GET", "/v1/devices?mailbox=%zz");
  EXPECT_EQ(broken.status, 400);
  HttpResponse unknown = call(admin_, "GET", "/v1/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(parse(unknown).find("code")->asString()[0], "not-found");
  HttpResponse wrong_method = call(admin_, "DELETE", "/v1/devices");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(header(wrong_method, "Allow"), "GET");
}

TEST_F(Api, AnIdempotencyKeyMakesARetrySafe) {
  const std::string body = R"({"kind":"allow","mailbox":"m1","deviceId":"ABC1"})";
  HttpResponse first = call(operator_, "POST", "/v1/commands", body, {{"idempotency-key", "k-1"}});
  HttpResponse again = call(operator_, "POST", "/v1/commands", body, {{"idempotency-key", "k-1"}});
  ASSERT_EQ(first.status, 202);
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(*parse(first).find("id")->asInt(), *parse(again).find("id")->asInt());
  EXPECT_EQ(header(again, "Idempotent-Replayed"), "true");
  EXPECT_EQ(header(first, "Idempotent-Replayed"), "");
  HttpResponse other =
      call(operator_, "POST", "/v1/commands",
           R"({"kind":"allow","mailbox":"m1","deviceId":"ABC2"})", {{"idempotency-key", "k-1"}});
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(
      call(operator_, "POST", "/v1/commands", body, {{"idempotency-key", "has space"}}).status,
      400);
  // Another client's same key: its own command, and nothing of the first one shown.
  HttpResponse admins = call(admin_, "POST", "/v1/commands", body, {{"idempotency-key", "k-1"}});
  ASSERT_EQ(admins.status, 202) << admins.body;
  EXPECT_NE(*parse(admins).find("id")->asInt(), *parse(first).find("id")->asInt());
  EXPECT_EQ(header(admins, "Idempotent-Replayed"), "");
}

TEST_F(Api, TheInventoryPagesFiltersAndShowsOneDevice) {
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    HttpResponse r = call(reader_, "GET",
                          "/v1/devices?limit=25" +
                              (cursor.empty() ? "" : "&cursor=" + protocol::percentEncode(cursor)));
    ASSERT_EQ(r.status, 200) << r.body;
    const json::JsonValue page = parse(r);
    for (const auto& d : *page.find("devices")->asArray()) seen.insert(text(d, "identity"));
    cursor = page.find("nextCursor")->isNull() ? "" : *page.find("nextCursor")->asString();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 60u) << "every partnership once";
  EXPECT_EQ(pages, 3);
  // A cursor the agent did not give is refused, not taken for the end of the inventory.
  for (const char* forged : {"garbage", "d1zz", "d16e6f6e65", "D16E"}) {
    HttpResponse r = call(reader_, "GET", std::string("/v1/devices?cursor=") + forged);
    EXPECT_EQ(r.status, 400) << forged << ": " << r.body;
    EXPECT_NE(r.body.find("\"field\":\"cursor\""), std::string::npos) << r.body;
  }

  const std::string address = facts().primarySmtpAddress();
  HttpResponse mine =
      call(reader_, "GET", "/v1/devices?mailbox=" + protocol::percentEncode(address));
  EXPECT_EQ(parse(mine).find("devices")->asArray()->size(), mailbox().devices.size());
  // Any other name of the mailbox finds the same devices: a proxy address, its SamAccountName.
  for (const std::string& name : {facts().proxyAddresses().at(0), facts().sam_account_name}) {
    HttpResponse also =
        call(reader_, "GET", "/v1/devices?mailbox=" + protocol::percentEncode(name));
    EXPECT_EQ(parse(also).find("devices")->asArray()->size(), mailbox().devices.size()) << name;
  }
  HttpResponse future = call(reader_, "GET", "/v1/devices?seenSince=2100-01-01T00:00:00Z");
  EXPECT_TRUE(parse(future).find("devices")->asArray()->empty());
  const json::JsonValue allowed =
      parse(call(reader_, "GET", "/v1/devices?accessState=Allowed&limit=1000"));
  EXPECT_FALSE(allowed.find("devices")->asArray()->empty());
  for (const auto& d : *allowed.find("devices")->asArray()) {
    EXPECT_EQ(text(d, "accessState"), "Allowed");
  }

  HttpResponse one = call(reader_, "GET", "/v1/devices/" + protocol::percentEncode(partnership()));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(text(*parse(one).find("device"), "deviceId"), mailbox().devices[0].device_id);
  EXPECT_EQ(call(reader_, "GET",
                 "/v1/devices/" + protocol::percentEncode("x/ExchangeActiveSyncDevices/none"))
                .status,
            404);
}

TEST_F(Api, ADeviceReadsTheSameInTheApiAsInAJsonExport) {
  HttpResponse one = call(reader_, "GET", "/v1/devices/" + protocol::percentEncode(partnership()));
  ASSERT_EQ(one.status, 200) << one.body;
  const json::JsonValue api = *parse(one).find("device");

  std::ostringstream exported;
  auto writer = makeInventoryWriter(ExportFormat::kNdjson, exported, {});
  for (const auto& d : inventory_->current().value()) {
    if (d.identity == partnership()) writer->write(d);
  }
  writer->finish();
  auto file = json::parseJson(exported.str());
  ASSERT_TRUE(file.ok()) << exported.str();

  // Member for member, in the same order, the API adding when it first and last saw it.
  const json::JsonObject& a = *api.asObject();
  const json::JsonObject& e = *file->asObject();
  ASSERT_EQ(a.size(), e.size() + 2);
  bool some_null = false;
  for (std::size_t i = 0; i < e.size(); ++i) {
    EXPECT_EQ(a[i].first, e[i].first);
    EXPECT_EQ(a[i].second.isNull(), e[i].second.isNull()) << e[i].first;
    if (e[i].second.isString()) {
      EXPECT_EQ(*a[i].second.asString(), *e[i].second.asString());
    }
    some_null |= e[i].second.isNull();
  }
  EXPECT_TRUE(some_null) << "no wipe yet: its times are null, not \"\"";
  // One time format: seven fraction digits when there is a fraction, none on a whole second.
  const std::regex utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{7})?Z)");
  for (const char* time : {"firstSyncTime", "lastSuccessSync", "firstSeen", "lastSeen"}) {
    ASSERT_TRUE(api.find(time) && api.find(time)->isString()) << time;
    EXPECT_TRUE(std::regex_match(*api.find(time)->asString(), utc)) << *api.find(time)->asString();
  }
}

TEST_F(Api, StatusMetricsAndTheContractAreServed) {
  HttpResponse status = call(reader_, "GET", "/v1/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(*parse(status).find("devices")->asInt(), 60);
  EXPECT_FALSE(parse(status).find("harvests")->find("full")->isNull());
  HttpResponse metrics = call(reader_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type.rfind("text/plain", 0), 0u);
  EXPECT_NE(metrics.body.find("easgate_devices 60"), std::string::npos);
  EXPECT_NE(metrics.body.find("easgate_http_request_duration_seconds_bucket{method=\"GET\",route="
                              "\"/v1/status\",le=\"+Inf\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("easgate_harvest_duration_seconds_count{kind=\"full\"} 1"),
            std::string::npos);
  HttpResponse contract = call(reader_, "GET", "/v1/openapi.json");
  EXPECT_EQ(contract.status, 200);
  EXPECT_TRUE(parse(contract).find("paths")->find("/v1/commands"));
}

TEST_F(Api, APartialHarvestIsInTheStatusTheMetricsAndTheEventFeed) {
  gateway_.organisation().statistics_offline = {facts().identity};
  HarvestOptions options;
  options.statistics_retry_ms = 0;
  Harvester harvester(*harvest_directory_, *harvest_db_, *inventory_, gateway_, journal_.get(),
                      clock_, options);
  clock_.advance(60'000);
  ASSERT_TRUE(harvester.run(HarvestKind::kFull).ok());
  HttpResponse status = call(reader_, "GET", "/v1/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(*parse(status).find("harvests")->find("full")->find("failedMailboxes")->asInt(), 1);
  EXPECT_NE(call(reader_, "GET", "/metrics")
                .body.find("easgate_harvest_failed_mailboxes{kind=\"full\"} 1"),
            std::string::npos);
  HttpResponse events = call(reader_, "GET", "/v1/events?after=0&limit=1000");  // contract-checked
  ASSERT_EQ(events.status, 200);
  EXPECT_NE(events.body.find("\"kind\":\"mailbox-statistics-failed\""), std::string::npos);
  EXPECT_NE(events.body.find(facts().identity), std::string::npos) << "it names the mailbox";
}

// The feed keeps what the history keeps: an MDM that comes back after events past its cursor
// were forgotten is told so (410), and where to read on from once it has read the inventory.
TEST_F(Api, AReaderWhoseEventsWereForgottenIsToldWhereToReadOn) {
  constexpr std::int64_t kDay = 86'400'000;
  HarvestOptions options;
  options.keep_history_ms = 10 * kDay;
  Harvester harvester(*harvest_directory_, *harvest_db_, *inventory_, gateway_, journal_.get(),
                      clock_, options);
  clock_.advance(30 * kDay);
  auto full = harvester.run(HarvestKind::kFull);  // nothing changed: no events of its own
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->events_forgotten, 59u) << "the 60 discoveries but the newest, kept";

  for (const char* target : {"/v1/events?after=10", "/v1/events?after=10&wait=30"}) {
    HttpResponse gone = call(reader_, "GET", target);  // contract-checked
    ASSERT_EQ(gone.status, 410) << target << ": " << gone.body;
    const json::JsonValue body = parse(gone);
    EXPECT_EQ(*body.find("code")->asString(), "events-forgotten");
    EXPECT_EQ(*body.find("field")->asString(), "after");
    EXPECT_EQ(*body.find("cursor")->asInt(), 59) << "the one before the oldest kept";
  }
  HttpResponse on = call(reader_, "GET", "/v1/events?after=59");
  ASSERT_EQ(on.status, 200) << on.body;
  EXPECT_EQ(parse(on).find("events")->asArray()->size(), 1u);
  EXPECT_EQ(*parse(on).find("cursor")->asInt(), 60);
  HttpResponse start = call(reader_, "GET", "/v1/events?after=0");
  ASSERT_EQ(start.status, 200) << "a reader at 0 has missed nothing: " << start.body;
  EXPECT_EQ(parse(start).find("events")->asArray()->size(), 1u);
}

TEST_F(Api, LongPollsAreBoundedPerClientAndHoldTheirPlaceUntilTheyEnd) {
  ApiOptions options;
  options.long_polls_per_client = 2;
  options.long_polls = 3;
  auto service = readersOnlyService(options);
  ApiService& bounded = *service;
  HttpRequest r;
  r.method = "GET";
  r.target = "/v1/events?after=999999&wait=30";
  r.peer = reader_;
  HttpResponse first = bounded.handle(r), second = bounded.handle(r);
  ASSERT_TRUE(first.pending && second.pending) << "waiting, not answered";
  HttpResponse third = bounded.handle(r);
  EXPECT_EQ(third.status, 429) << "two per client";
  EXPECT_NE(third.body.find("\"field\":\"wait\""), std::string::npos) << third.body;
  EXPECT_FALSE(third.pending);
  r.peer = peer("other");
  HttpResponse others = bounded.handle(r);
  EXPECT_TRUE(others.pending) << "another client has places of its own";
  EXPECT_EQ(bounded.handle(r).status, 429) << "three in all";
  EXPECT_EQ(bounded.longPolls(), 3u);
  first = {};  // the listener drops a wait when it is answered or its client goes away
  EXPECT_EQ(bounded.longPolls(), 2u);
  r.peer = reader_;
  EXPECT_TRUE(bounded.handle(r).pending) << "the place was given back";
}

TEST_F(Api, EachClientIsRateLimited) {
  ApiOptions options;
  options.requests_per_second = 2;
  options.burst = 3;
  auto service = readersOnlyService(options);
  ApiService& limited = *service;
  HttpRequest r;
  r.method = "GET";
  r.target = "/v1/health";
  r.peer = reader_;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limited.handle(r).status, 200);
  HttpResponse refused = limited.handle(r);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(header(refused, "Retry-After"), "1");
  HttpRequest other = r;
  other.peer = peer("other");
  other.peer.thumbprint = std::string(64, 'd');
  EXPECT_EQ(limited.handle(other).status, 200) << "buckets are per client";
  clock_.advance(500);
  EXPECT_EQ(limited.handle(r).status, 200) << "a token back after 1/rate seconds";
  EXPECT_EQ(limited.handle(r).status, 429);
}

TEST_F(Api, TheEventFeedPagesByCursorAndALongPollEndsOnNews) {
  HttpResponse first = call(reader_, "GET", "/v1/events?limit=50");
  ASSERT_EQ(first.status, 200);
  const json::JsonValue page = parse(first);
  EXPECT_EQ(page.find("events")->asArray()->size(), 50u);
  const std::int64_t cursor = *page.find("cursor")->asInt();
  HttpResponse rest = call(reader_, "GET", "/v1/events?after=" + std::to_string(cursor));
  EXPECT_EQ(parse(rest).find("events")->asArray()->size(), 10u) << "60 discoveries in all";
  const std::int64_t end = *parse(rest).find("cursor")->asInt();

  // A long-poll at the end of the feed returns when a harvest writes news.
  HttpResponse waited;
  std::thread poller(
      [&] { waited = call(reader_, "GET", "/v1/events?wait=30&after=" + std::to_string(end)); });
  auto& org = gateway_.organisation();
  org.removeDevice(*org.findDevice(mailbox().devices[0].guid.text()));
  ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
  api_->eventsWritten();
  poller.join();
  ASSERT_EQ(waited.status, 200) << waited.body;
  const json::JsonValue waited_body = parse(waited);
  const auto* events = waited_body.find("events")->asArray();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(*(*events)[0].find("kind")->asString(), "partnership-removed");

  // Shutting down answers a waiting poll at once, with nothing.
  api_->shutdown();
  HttpResponse after_shutdown = call(reader_, "GET", "/v1/events?wait=60&after=100000");
  EXPECT_TRUE(parse(after_shutdown).find("events")->asArray()->empty());
}

}  // namespace
}  // namespace easgate::agent::api

namespace easgate::testing {
namespace {

TEST(OpenApiCheck, CatchesAnswersTheContractDoesNotAllow) {
  EXPECT_EQ(openApiViolation("GET", "/v1/health", 200, R"({"status":"ok","version":"1"})"), "");
  EXPECT_NE(openApiViolation("GET", "/v1/health", 200, R"({"status":"ok"})"), "");
  EXPECT_NE(openApiViolation("GET", "/v1/health", 200, R"({"status":"ok","version":"1","x":1})"),
            "");
  EXPECT_NE(openApiViolation("GET", "/v1/health", 418, "{}"), "");
  EXPECT_NE(openApiViolation("PATCH", "/v1/devices", 200, "{}"), "");
  EXPECT_NE(openApiViolation("GET", "/v1/devices", 200, R"({"devices":[{}],"nextCursor":null})"),
            "");
}

}  // namespace
}  // namespace easgate::testing

namespace easgate::agent::api {
namespace {

// The organisation's policy: plan, apply, roll back (agent/policy/, agent/api/policy_routes.cpp).
class PolicyApi : public Api {
 protected:
  void SetUp() override {
    Api::SetUp();
    // An organisation as one is found: one device on its mailbox's allowed list, one on a
    // blocked list, a rule that allows one device type, the rest Allowed by the default.
    auto& org = gateway_.organisation();
    auto& boxes = const_cast<std::vector<sim::SimMailbox>&>(org.mailboxes());
    kept_ = boxes[0].devices[0].device_id;
    blocked_ = boxes[1].devices[0].device_id;
    ASSERT_TRUE(org.changeLists(boxes[0], sim::Organisation::ListChange{std::nullopt, {kept_}, {}},
                                std::nullopt, 1)
                    .ok());
    ASSERT_TRUE(org.changeLists(boxes[1], std::nullopt,
                                sim::Organisation::ListChange{std::nullopt, {blocked_}, {}}, 1)
                    .ok());
    ruled_type_ = boxes[2].devices[0].device_type;
    org.policy.rules.push_back({powershell::exchange::Characteristic::kDeviceType, ruled_type_,
                                powershell::exchange::AccessLevel::kAllow});
    org.syncAll(1);
    ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
    for (const auto& m : org.mailboxes()) {
      for (const auto& d : m.devices) {
        if (d.access_state == "Allowed" && d.access_state_reason == "Global") ++by_default_;
        if (d.access_state == "Allowed" && d.access_state_reason == "DeviceRule") ++by_rule_;
      }
    }
    ASSERT_GT(by_default_, 10);
    ASSERT_GT(by_rule_, 0);
  }

  json::JsonValue plan(const std::string& body, int status = 200) {
    HttpResponse r = call(operator_, "POST", "/v1/policy/plan", body);
    EXPECT_EQ(r.status, status) << r.body;
    return parse(r);
  }
  std::int64_t count(const json::JsonValue& plan, const char* by, const char* key) {
    const json::JsonValue* v = plan.find("counts")->find(by)->find(key);
    return v ? *v->asInt() : 0;
  }
  void runCommands() {
    for (int i = 0; i < 20 && executor_->runDue().value() > 0; ++i) {
    }
  }
  // Exchange refuses one of the devices a plan allows, whenever asked to add it (a mailbox's
  // allows go in one call; a call refused for good is tried again one allow a call).
  void refuseAnAllow(const json::JsonValue& plan) {
    const json::JsonValue* changes = plan.find("changes");
    ASSERT_TRUE(changes && changes->asArray());
    for (const auto& change : *changes->asArray()) {
      const json::JsonValue* kept = change.find("grandfathered");
      if (!kept || !kept->asBool() || !*kept->asBool()) continue;
      gateway_.refuseDeviceId(text(change, "deviceId"),
                              {GatewayErrc::kInvalidArgument, "The device ID is not valid", "", 0});
      return;
    }
    FAIL() << "the plan allows no device";
  }
  // The index in the gateway's log of the first and last request for a cmdlet.
  std::vector<std::size_t> requestsOf(const std::string& cmdlet) {
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i < gateway_.requests().size(); ++i) {
      if (gateway_.requests()[i].cmdlet == cmdlet) at.push_back(i);
    }
    return at;
  }
  std::string field(const HttpResponse& r) {
    const json::JsonValue body = parse(r);
    const json::JsonValue* f = body.find("field");
    return f && f->asString() ? *f->asString() : "";
  }

  std::string kept_, blocked_, ruled_type_;
  std::int64_t by_default_ = 0, by_rule_ = 0;
};

TEST_F(PolicyApi, ThePolicyReadsAsExchangeHasIt) {
  HttpResponse r = call(reader_, "GET", "/v1/policy");
  ASSERT_EQ(r.status, 200) << r.body;
  json::JsonValue p = parse(r);
  const json::JsonValue& settings = *p.find("settings");
  EXPECT_EQ(text(settings, "defaultAccessLevel"), "Allow");
  ASSERT_EQ(settings.find("rules")->asArray()->size(), 1u);
  EXPECT_EQ(text((*settings.find("rules")->asArray())[0], "name"), ruled_type_ + " (DeviceType)");
  EXPECT_TRUE(p.find("lastApply")->isNull());
}

TEST_F(PolicyApi, APlanShowsWhoseDevicesWouldStopAndChangesNothing) {
  const std::size_t requests_before = gateway_.requests().size();
  json::JsonValue none = plan(R"({"defaultAccessLevel":"quarantine","grandfather":"none"})");
  EXPECT_EQ(text(none, "defaultAccessLevel"), "Quarantine");
  EXPECT_EQ(text(none, "currentDefaultAccessLevel"), "Allow");
  // Everything Allowed by the default is quarantined; the lists and the rule still decide
  // theirs.
  EXPECT_EQ(count(none, "byNewState", "Quarantined"), by_default_);
  EXPECT_EQ(none.find("changes")->asArray()->size(), static_cast<std::size_t>(by_default_));
  for (const auto& c : *none.find("changes")->asArray()) {
    EXPECT_EQ(text(*c.find("from"), "reason"), "Global");
    EXPECT_EQ(text(*c.find("to"), "accessState"), "Quarantined");
    EXPECT_NE(text(c, "deviceId"), kept_);
  }
  ASSERT_EQ(none.find("commands")->asArray()->size(), 1u) << "only the default changes";

  // Grandfathering every Allowed device: nobody loses access; each gets an allow.
  json::JsonValue all = plan(R"({"defaultAccessLevel":"Quarantine"})");
  EXPECT_EQ(count(all, "byNewState", "Quarantined"), 0);
  EXPECT_EQ(all.find("commands")->asArray()->size(),
            static_cast<std::size_t>(by_default_ + by_rule_ + 1));
  const auto& commands = *all.find("commands")->asArray();
  EXPECT_EQ(text(commands.back(), "kind"), "set-default-access-level");
  for (std::size_t i = 0; i + 1 < commands.size(); ++i) {
    EXPECT_EQ(text(commands[i], "kind"), "allow");
    EXPECT_NE(text(commands[i], "deviceId"), kept_) << "already on its list: nothing to add";
    EXPECT_NE(text(commands[i], "deviceId"), blocked_);
  }

  // An explicit list: those kept, the rest quarantined.
  const std::string one = sim::partnershipIdentity(mailbox().devices.back());
  json::JsonValue listed = plan(R"({"defaultAccessLevel":"Block","grandfather":[")" + one + "\"]}");
  EXPECT_EQ(listed.find("commands")->asArray()->size(), 2u);
  EXPECT_EQ(count(listed, "byNewState", "Blocked"), by_default_ - 1);

  EXPECT_EQ(submitted_, 0) << "a plan journals nothing";
  EXPECT_EQ(gateway_.requests().size(), requests_before) << "a plan asks Exchange nothing";
  EXPECT_EQ(gateway_.organisation().policy.default_level,
            powershell::exchange::AccessLevel::kAllow);
}

TEST_F(PolicyApi, BadPlansAndAppliesAreRefusedWithTheField) {
  struct Case {
    const char* body;
    const char* field;
  } plans[] = {
      {R"({"defaultAccessLevel":"Allow"})", "defaultAccessLevel"},
      {R"({"defaultAccessLevel":"Quarantined"})", "defaultAccessLevel"},
      {R"({})", "defaultAccessLevel"},
      {R"({"defaultAccessLevel":"Block","grandfather":"some"})", "grandfather"},
      {R"({"defaultAccessLevel":"Block","grandfather":[""]})", "grandfather[0]"},
      {R"({"defaultAccessLevel":"Block","grandfather":["contoso.com/Users/Nobody/ExchangeActiveSyncDevices/iPhone§X1"]})",
       "grandfather[0]"},
      {R"({"defaultAccessLevel":"Block","rules":{}})", "rules"},
      {R"({"defaultAccessLevel":"Block","colour":"red"})", "colour"},
  };
  for (const auto& c : plans) {
    HttpResponse r = call(operator_, "POST", "/v1/policy/plan", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(field(r), c.field) << c.body << " -> " << r.body;
  }
  HttpResponse unknown =
      call(admin_, "POST", "/v1/policy/apply", R"({"planId":"plan-0123456789abcdef"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(field(unknown), "planId");
  HttpResponse malformed = call(admin_, "POST", "/v1/policy/apply", R"({"planId":"x"})");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(field(malformed), "planId");
  const std::string id = text(plan(R"({"defaultAccessLevel":"Quarantine"})"), "id");
  EXPECT_EQ(call(operator_, "POST", "/v1/policy/apply", "{\"planId\":\"" + id + "\"}").status, 403)
      << "applying needs admin";
  EXPECT_EQ(call(reader_, "POST", "/v1/policy/plan", R"({"defaultAccessLevel":"Block"})").status,
            403);
  EXPECT_EQ(submitted_, 0) << "nothing queued";
}

TEST_F(PolicyApi, ApplyKeepsTheAllowedDevicesThenQuarantinesTheRestAndRollbackRestores) {
  const std::string id = text(plan(R"({"defaultAccessLevel":"Quarantine"})"), "id");
  HttpResponse applied = call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + id + "\"}");
  ASSERT_EQ(applied.status, 202) << applied.body;
  json::JsonValue a = parse(applied);
  const auto& commands = *a.find("commands")->asArray();
  ASSERT_EQ(commands.size(), static_cast<std::size_t>(by_default_ + by_rule_ + 1));
  const json::JsonValue* after = commands.back().find("after");
  ASSERT_NE(after, nullptr) << "the default waits for every allow";
  EXPECT_EQ(*after->find("firstCommandId")->asInt(), *commands.front().find("id")->asInt());
  EXPECT_EQ(*after->find("lastCommandId")->asInt(),
            *commands[commands.size() - 2].find("id")->asInt());
  EXPECT_EQ(call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + id + "\"}").status, 404)
      << "a plan is applied once";

  // The executor restarts halfway (a crash): every allow is journaled, some throttled.
  for (int i = 0; i < 3; ++i) {
    gateway_.failNext({GatewayErrc::kThrottled, "Micro delay applied", "", 1000});
  }
  ASSERT_TRUE(executor_->runDue().ok());
  EXPECT_TRUE(requestsOf("Set-ActiveSyncOrganizationSettings").empty())
      << "the default is not sent while an allow is unfinished";
  executor_ = std::make_unique<CommandExecutor>(*journal_, gateway_, *directory_, clock_);
  clock_.advance(60'000);
  runCommands();

  auto sets = requestsOf("Set-ActiveSyncOrganizationSettings");
  auto edits = requestsOf("Set-CASMailbox");
  ASSERT_EQ(sets.size(), 1u);
  ASSERT_FALSE(edits.empty());
  EXPECT_GT(sets.front(), edits.back()) << "the default changed after every allowed list";
  auto& org = gateway_.organisation();
  EXPECT_EQ(org.policy.default_level, powershell::exchange::AccessLevel::kQuarantine);
  for (const auto& m : org.mailboxes()) {
    for (const auto& d : m.devices) {
      if (d.device_id == blocked_) {
        EXPECT_EQ(d.access_state, "Blocked");
      } else {
        EXPECT_EQ(d.access_state, "Allowed") << d.device_id << " lost its access";
        EXPECT_EQ(d.access_state_reason, "Individual") << d.device_id;
      }
    }
  }
  auto command = journal_->get(commands.back().find("id")->asInt().value());
  EXPECT_EQ(command->state, CommandState::kSucceeded) << command->last_error;

  // Harvested, the policy shows the apply; rolled back, the default is Allow again and the IDs
  // the apply added are gone, the one the administrator had put there stays.
  ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
  json::JsonValue policy = parse(call(reader_, "GET", "/v1/policy"));
  EXPECT_EQ(text(*policy.find("settings"), "defaultAccessLevel"), "Quarantine");
  EXPECT_EQ(text(*policy.find("lastApply"), "previousDefaultAccessLevel"), "Allow");
  HttpResponse rollback =
      call(admin_, "POST", "/v1/policy/rollback", R"({"removeGrandfathered":true})");
  ASSERT_EQ(rollback.status, 202) << rollback.body;
  const std::size_t before_rollback = gateway_.requests().size();
  runCommands();
  EXPECT_EQ(org.policy.default_level, powershell::exchange::AccessLevel::kAllow);
  std::size_t first_edit = gateway_.requests().size(), set = 0;
  for (std::size_t i = before_rollback; i < gateway_.requests().size(); ++i) {
    const auto& cmdlet = gateway_.requests()[i].cmdlet;
    if (cmdlet == "Set-ActiveSyncOrganizationSettings") set = i;
    if (cmdlet == "Set-CASMailbox") first_edit = std::min(first_edit, i);
  }
  EXPECT_LT(set, first_edit) << "the default is restored before any ID is removed";
  EXPECT_EQ(org.mailboxes()[0].facts.allowed_device_ids, std::vector<std::string>{kept_});
  for (std::size_t i = 1; i < org.mailboxes().size(); ++i) {
    EXPECT_TRUE(org.mailboxes()[i].facts.allowed_device_ids.empty()) << i;
  }
  EXPECT_EQ(call(admin_, "POST", "/v1/policy/rollback", "{}").status, 404) << "nothing left";
  HttpResponse again = call(admin_, "POST", "/v1/policy/rollback",
                            "{\"applyId\":" + std::to_string(*a.find("applyId")->asInt()) + "}");
  EXPECT_EQ(again.status, 409);
}

TEST_F(PolicyApi, ALargeApplyAnswersWithItsCountAndAPageOfItsCommands) {
  // Sixty more mailboxes of two phones each, allowed by the default: an apply keeping them in
  // queues more allows than a page lists.
  auto& org = gateway_.organisation();
  for (int i = 0; i < 60; ++i) {
    sim::MailboxFacts m;
    m.name = "Bulk " + std::to_string(i);
    m.identity = "contoso.com/Users/" + m.name;
    m.setPrimarySmtpAddress("bulk" + std::to_string(i) + "@contoso.com");
    sim::SimMailbox& box = org.addMailbox(std::move(m));
    for (int d = 0; d < 2; ++d) {
      char guid[40];
      std::snprintf(guid, sizeof guid, "00000000-0000-4000-9000-%012d", i * 2 + d);
      sim::PartnershipFacts phone;
      phone.device_id = "BULK" + std::to_string(i * 2 + d);
      phone.device_type = "iPhone";
      phone.guid = sim::Guid(guid);
      org.addDevice(box, phone);
    }
  }
  org.syncAll(1);
  ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
  const std::string id = text(plan(R"({"defaultAccessLevel":"Quarantine"})"), "id");
  HttpResponse applied = call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + id + "\"}");
  ASSERT_EQ(applied.status, 202) << applied.body;
  json::JsonValue a = parse(applied);
  const std::int64_t total = by_default_ + by_rule_ + 120 + 1;  // the allows, the default
  EXPECT_EQ(*a.find("commandsTotal")->asInt(), total);
  const std::int64_t first = *a.find("firstCommandId")->asInt();
  const std::int64_t last = *a.find("lastCommandId")->asInt();
  EXPECT_EQ(last - first + 1, total) << "one id after another";
  EXPECT_EQ(*a.find("applyId")->asInt(), last) << "the default is the last";
  const auto& commands = *a.find("commands")->asArray();
  ASSERT_EQ(commands.size(), 100u);
  EXPECT_EQ(text(commands.back(), "kind"), "set-default-access-level");
  EXPECT_EQ(*commands.back().find("id")->asInt(), last);
  for (std::size_t i = 0; i + 1 < commands.size(); ++i) {
    EXPECT_EQ(*commands[i].find("id")->asInt(), first + static_cast<std::int64_t>(i))
        << "the first of the allows, in order";
    EXPECT_EQ(text(commands[i], "kind"), "allow");
  }
  // Every one of them is there to read.
  for (std::int64_t c : {first + 99, first + 150, last - 1}) {
    EXPECT_EQ(call(reader_, "GET", "/v1/commands/" + std::to_string(c)).status, 200) << c;
  }
  // The default says what it waits for in two ids, however many allows there are.
  for (const HttpResponse& r :
       {applied, call(reader_, "GET", "/v1/commands/" + std::to_string(last))}) {
    const json::JsonValue body = parse(r);
    const json::JsonValue& level =
        body.find("commands") ? body.find("commands")->asArray()->back() : body;
    const json::JsonValue* after = level.find("after");
    ASSERT_NE(after, nullptr) << r.body;
    EXPECT_EQ(*after->find("firstCommandId")->asInt(), first);
    EXPECT_EQ(*after->find("lastCommandId")->asInt(), last - 1);
    EXPECT_EQ(after->asObject()->size(), 2u) << r.body;
  }
}

TEST_F(PolicyApi, AStalePlanIsNotAppliedAndAFailedAllowStopsTheDefault) {
  const std::string id = text(plan(R"({"defaultAccessLevel":"Quarantine"})"), "id");
  // A device of the plan is blocked meanwhile: the plan would now do otherwise.
  auto& org = gateway_.organisation();
  auto& boxes = const_cast<std::vector<sim::SimMailbox>&>(org.mailboxes());
  const std::string now_blocked = boxes[3].devices[0].device_id;
  ASSERT_TRUE(org.changeLists(boxes[3], std::nullopt,
                              sim::Organisation::ListChange{std::nullopt, {now_blocked}, {}}, 2)
                  .ok());
  ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
  HttpResponse stale = call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + id + "\"}");
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(field(stale), "planId");
  EXPECT_EQ(submitted_, 0);

  // An allow that Exchange refuses (in its mailbox's call, then alone): the default is never
  // sent.
  const json::JsonValue fresh_plan = plan(R"({"defaultAccessLevel":"Quarantine"})");
  const std::string fresh = text(fresh_plan, "id");
  ASSERT_EQ(call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + fresh + "\"}").status, 202);
  refuseAnAllow(fresh_plan);
  runCommands();
  EXPECT_TRUE(requestsOf("Set-ActiveSyncOrganizationSettings").empty());
  EXPECT_EQ(org.policy.default_level, powershell::exchange::AccessLevel::kAllow);
  auto unfinished = journal_->unfinished();
  EXPECT_TRUE(unfinished->empty());
  auto q = db_->prepare(
      "SELECT state, last_error FROM commands WHERE kind = "
      "'set-default-access-level'");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->step().value());
  EXPECT_EQ(q->text(0), "failed");
  EXPECT_NE(q->text(1).find("not sent"), std::string::npos) << q->text(1);
}

TEST_F(PolicyApi, APlansChangesComeAPageAtATimeWhileThePlanStandsAndAStalePlanHasNone) {
  // The whole plan in one answer, to compare the pages with.
  json::JsonValue whole = plan(R"({"defaultAccessLevel":"Quarantine","limit":1000})");
  const auto& all_changes = *whole.find("changes")->asArray();
  ASSERT_GT(all_changes.size(), 10u);
  EXPECT_EQ(*whole.find("changesTotal")->asInt(), static_cast<std::int64_t>(all_changes.size()));
  EXPECT_TRUE(whole.find("nextCursor")->isNull()) << "all of it in one page";
  const std::int64_t allows = *whole.find("allowsTotal")->asInt();
  EXPECT_EQ(allows, by_default_ + by_rule_) << "every Allowed device not on its list";

  // The same plan in pages of 3: its first with the plan, the rest from the plan's id.
  json::JsonValue first = plan(R"({"defaultAccessLevel":"Quarantine","limit":3})");
  EXPECT_EQ(text(first, "digest"), text(whole, "digest"));
  EXPECT_EQ(*first.find("changesTotal")->asInt(), static_cast<std::int64_t>(all_changes.size()));
  EXPECT_EQ(*first.find("allowsTotal")->asInt(), allows);
  const std::string id = text(first, "id");
  std::vector<std::string> identities;
  // Each allow as the whole plan has it: its partnership, mailbox and device ID.
  auto allowOf = [&](const json::JsonValue& c) {
    return text(c, "partnership") + "|" + text(c, "mailbox") + "|" + text(c, "deviceId");
  };
  std::vector<std::string> whole_allows, paged_allows;
  for (const auto& c : *whole.find("commands")->asArray()) {
    if (text(c, "kind") == "allow") whole_allows.push_back(allowOf(c));
  }
  auto take = [&](const json::JsonValue& page) {
    for (const auto& c : *page.find("changes")->asArray())
      identities.push_back(text(c, "identity"));
    for (const auto& c : *page.find("commands")->asArray()) {
      if (text(c, "kind") != "allow") continue;
      EXPECT_FALSE(text(c, "mailbox").empty()) << "an allow names its mailbox";
      paged_allows.push_back(allowOf(c));
    }
  };
  take(first);
  ASSERT_EQ(identities.size(), 3u);
  EXPECT_EQ(text(first.find("commands")->asArray()->back(), "kind"), "set-default-access-level")
      << "the default still last";
  auto nextCursor = [](const json::JsonValue& page) -> std::optional<std::string> {
    const json::JsonValue* c = page.find("nextCursor");
    return c && c->asString() ? std::optional(*c->asString()) : std::nullopt;
  };
  int pages = 1;
  for (auto cursor = nextCursor(first); cursor; ++pages) {
    ASSERT_LT(pages, 100) << "the pages end";
    HttpResponse r = call(
        operator_, "GET",
        "/v1/policy/plans/" + id + "/changes?limit=3&cursor=" + protocol::percentEncode(*cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    const json::JsonValue page = parse(r);
    EXPECT_EQ(text(page, "planId"), id);
    EXPECT_LE(page.find("changes")->asArray()->size(), 3u);
    take(page);
    cursor = nextCursor(page);
  }
  ASSERT_EQ(identities.size(), all_changes.size());
  for (std::size_t i = 0; i < identities.size(); ++i) {
    EXPECT_EQ(identities[i], text(all_changes[i], "identity")) << "change " << i << ", in order";
  }
  EXPECT_EQ(whole_allows.size(), static_cast<std::size_t>(allows));
  EXPECT_EQ(paged_allows, whole_allows) << "each allow comes with its partnership's page";

  // Refused: what is not a page of a plan this agent made.
  EXPECT_EQ(call(operator_, "GET", "/v1/policy/plans/" + id + "/changes?cursor=xyz").status, 400);
  EXPECT_EQ(call(operator_, "GET", "/v1/policy/plans/" + id + "/changes?limit=0").status, 400);
  EXPECT_EQ(call(operator_, "GET", "/v1/policy/plans/plan-x/changes").status, 400);
  EXPECT_EQ(call(operator_, "GET", "/v1/policy/plans/plan-0123456789abcdef/changes").status, 404);
  EXPECT_EQ(call(reader_, "GET", "/v1/policy/plans/" + id + "/changes").status, 403);
  EXPECT_EQ(call(operator_, "POST", "/v1/policy/plan",
                 R"({"defaultAccessLevel":"Quarantine","limit":1001})")
                .status,
            400);

  // A device of the plan is blocked meanwhile: the plan would now do otherwise, and its pages
  // are refused as its apply would be.
  auto& org = gateway_.organisation();
  auto& boxes = const_cast<std::vector<sim::SimMailbox>&>(org.mailboxes());
  ASSERT_TRUE(
      org.changeLists(
             boxes[3], std::nullopt,
             sim::Organisation::ListChange{std::nullopt, {boxes[3].devices[0].device_id}, {}}, 2)
          .ok());
  ASSERT_TRUE(harvester_->run(HarvestKind::kFull).ok());
  HttpResponse stale = call(operator_, "GET", "/v1/policy/plans/" + id + "/changes");
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_NE(stale.body.find("stale-plan"), std::string::npos) << stale.body;
}

TEST_F(PolicyApi, RulesAndQuarantineRecipientsChangeThroughCommands) {
  auto& org = gateway_.organisation();
  const sim::PartnershipFacts target = org.mailboxes()[4].devices[0];
  ASSERT_NE(target.device_os, "");
  const std::string rule = R"({"queryString":")" + target.device_os +
                           R"(","characteristic":"deviceos","accessLevel":"block"})";
  EXPECT_EQ(call(operator_, "POST", "/v1/policy/rules", rule).status, 403) << "rules are admin's";
  HttpResponse made = call(admin_, "POST", "/v1/policy/rules", rule);
  ASSERT_EQ(made.status, 202) << made.body;
  EXPECT_EQ(text(parse(made), "characteristic"), "DeviceOS");
  EXPECT_EQ(text(parse(made), "accessLevel"), "Block");
  runCommands();
  ASSERT_EQ(org.policy.rules.size(), 2u);
  EXPECT_EQ(org.policy.rules[1].name(), target.device_os + " (DeviceOS)");
  const auto* device =
      org.findDevice(target.guid.text()) ? org.findDevice(target.guid.text())->device : nullptr;
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(device->access_state, "Blocked") << "Exchange decides its devices again";
  EXPECT_EQ(device->access_state_reason, "DeviceRule");

  // The same rule again sets its level: no duplicate (Exchange would refuse one).
  const std::string allow = R"({"queryString":")" + target.device_os +
                            R"(","characteristic":"DeviceOS","accessLevel":"Allow"})";
  ASSERT_EQ(call(admin_, "POST", "/v1/policy/rules", allow).status, 202);
  runCommands();
  ASSERT_EQ(org.policy.rules.size(), 2u);
  EXPECT_EQ(org.policy.rules[1].level, powershell::exchange::AccessLevel::kAllow);
  EXPECT_EQ(requestsOf("Set-ActiveSyncDeviceAccessRule").size(), 1u);
  ASSERT_TRUE(harvester_->run(HarvestKind::kDelta).ok());
  json::JsonValue rules = parse(call(reader_, "GET", "/v1/policy/rules"));
  ASSERT_EQ(rules.find("rules")->asArray()->size(), 2u);

  // Removed by its name; removing it again finds it gone, which is done.
  const std::string path =
      "/v1/policy/rules/" + protocol::percentEncode(target.device_os + " (DeviceOS)");
  for (int i = 0; i < 2; ++i) {
    HttpResponse removed = call(admin_, "DELETE", path);
    ASSERT_EQ(removed.status, 202) << removed.body;
    runCommands();
    auto c = journal_->get(*parse(removed).find("id")->asInt());
    EXPECT_EQ(c->state, CommandState::kSucceeded) << c->last_error;
  }
  EXPECT_EQ(org.policy.rules.size(), 1u);

  HttpResponse recipients = call(admin_, "PUT", "/v1/policy/settings",
                                 R"({"adminMailRecipients":["helpdesk@contoso.com"]})");
  ASSERT_EQ(recipients.status, 202) << recipients.body;
  runCommands();
  EXPECT_EQ(org.admin_mail_recipients, std::vector<std::string>{"helpdesk@contoso.com"});

  struct Bad {
    const char* method;
    std::string target;
    std::string body;
    const char* field;
  } bad[] = {
      {"POST", "/v1/policy/rules",
       R"({"queryString":"*","characteristic":"DeviceType","accessLevel":"Block"})", "queryString"},
      {"POST", "/v1/policy/rules",
       R"({"queryString":"","characteristic":"DeviceType","accessLevel":"Block"})", "queryString"},
      {"POST", "/v1/policy/rules",
       R"({"queryString":"iPhone","characteristic":"DeviceId","accessLevel":"Block"})",
       "characteristic"},
      {"POST", "/v1/policy/rules",
       R"({"queryString":"iPhone","characteristic":"DeviceType","accessLevel":"Quarantined"})",
       "accessLevel"},
      {"DELETE", "/v1/policy/rules/iPhone", "", "name"},
      {"DELETE", "/v1/policy/rules/" + protocol::percentEncode("* (DeviceType)"), "", "name"},
      {"PUT", "/v1/policy/settings", R"({"adminMailRecipients":["not an address"]})",
       "adminMailRecipients[0]"},
      {"PUT", "/v1/policy/settings", R"({})", "adminMailRecipients"},
  };
  const int before = submitted_;
  for (const auto& b : bad) {
    HttpResponse r = call(admin_, b.method, b.target, b.body);
    EXPECT_EQ(r.status, 400) << b.target << " " << b.body;
    EXPECT_EQ(field(r), b.field) << b.target << " " << b.body << " -> " << r.body;
  }
  EXPECT_EQ(submitted_, before) << "nothing queued";
}

TEST_F(PolicyApi, APlanChangesRulesBeforeTheDefaultAndRollbackPutsThemBack) {
  auto& org = gateway_.organisation();
  const sim::PartnershipFacts other = org.mailboxes()[5].devices[0];
  ASSERT_NE(other.device_type, ruled_type_);
  const std::string body =
      R"json({"defaultAccessLevel":"Quarantine","grandfather":"none","rules":[)json"
      R"json({"queryString":")json" +
      other.device_type +
      R"json(","characteristic":"DeviceType","accessLevel":"Allow"}],)json"
      R"json("removeRules":[")json" +
      ruled_type_ + R"json( (DeviceType)"]})json";
  json::JsonValue p = plan(body);
  const auto& changes = *p.find("ruleChanges")->asArray();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(text(changes[0], "change"), "add");
  EXPECT_EQ(text(changes[1], "change"), "remove");
  // Devices of the type the new rule allows stay; those the removed rule allowed are
  // quarantined by the stricter default.
  for (const auto& c : *p.find("changes")->asArray()) {
    if (text(c, "deviceType") != other.device_type) continue;
    EXPECT_EQ(text(*c.find("to"), "accessState"), "Allowed");
    EXPECT_EQ(text(*c.find("to"), "reason"), "DeviceRule");
    EXPECT_EQ(text(*c.find("to"), "rule"), other.device_type + " (DeviceType)");
  }
  EXPECT_EQ(count(p, "byDeviceType", other.device_type.c_str()), 0);
  EXPECT_GT(count(p, "byDeviceType", ruled_type_.c_str()), 0);
  const auto& commands = *p.find("commands")->asArray();
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(text(commands[0], "kind"), "set-device-access-rule");
  EXPECT_EQ(text(commands[1], "kind"), "remove-device-access-rule");

  HttpResponse applied =
      call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + text(p, "id") + "\"}");
  ASSERT_EQ(applied.status, 202) << applied.body;
  runCommands();
  auto news = requestsOf("New-ActiveSyncDeviceAccessRule");
  auto removes = requestsOf("Remove-ActiveSyncDeviceAccessRule");
  auto sets = requestsOf("Set-ActiveSyncOrganizationSettings");
  ASSERT_EQ(news.size(), 1u);
  ASSERT_EQ(removes.size(), 1u);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_LT(news[0], removes[0]);
  EXPECT_LT(removes[0], sets[0]) << "the rules change before the default";
  ASSERT_EQ(org.policy.rules.size(), 1u);
  EXPECT_EQ(org.policy.rules[0].query_string, other.device_type);

  ASSERT_TRUE(harvester_->run(HarvestKind::kDelta).ok());
  HttpResponse rollback = call(admin_, "POST", "/v1/policy/rollback", "{}");
  ASSERT_EQ(rollback.status, 202) << rollback.body;
  runCommands();
  EXPECT_EQ(org.policy.default_level, powershell::exchange::AccessLevel::kAllow);
  ASSERT_EQ(org.policy.rules.size(), 1u) << "the rule the apply made is gone, the other is back";
  EXPECT_EQ(org.policy.rules[0].query_string, ruled_type_);
  EXPECT_EQ(org.policy.rules[0].level, powershell::exchange::AccessLevel::kAllow);

  // A rule to remove that the organisation does not have, or a bad query string: 400.
  HttpResponse missing =
      call(operator_, "POST", "/v1/policy/plan",
           R"json({"defaultAccessLevel":"Block","removeRules":["X (DeviceType)"]})json");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(field(missing), "removeRules[0]");
  HttpResponse wildcard =
      call(operator_, "POST", "/v1/policy/plan",
           R"json({"defaultAccessLevel":"Block","rules":[{"queryString":"**",)json"
           R"json("characteristic":"DeviceType","accessLevel":"Allow"}]})json");
  EXPECT_EQ(wildcard.status, 400);
  EXPECT_EQ(field(wildcard), "rules[0].queryString");
}

TEST_F(PolicyApi, AFailedAllowStopsThePlansRulesAsWellAsItsDefault) {
  auto& org = gateway_.organisation();
  const std::string type = org.mailboxes()[5].devices[0].device_type;
  json::JsonValue p =
      plan(R"json({"defaultAccessLevel":"Quarantine","rules":[{"queryString":")json" + type +
           R"json(","characteristic":"DeviceType","accessLevel":"Block"}]})json");
  ASSERT_EQ(
      call(admin_, "POST", "/v1/policy/apply", "{\"planId\":\"" + text(p, "id") + "\"}").status,
      202);
  // Exchange refuses one of the allows: a Block rule sent now would cut off a device the plan
  // meant to keep.
  refuseAnAllow(p);
  runCommands();
  EXPECT_TRUE(requestsOf("New-ActiveSyncDeviceAccessRule").empty());
  EXPECT_TRUE(requestsOf("Set-ActiveSyncOrganizationSettings").empty());
  EXPECT_EQ(org.policy.rules.size(), 1u);
  auto q = db_->prepare(
      "SELECT kind, state, last_error FROM commands WHERE kind IN ('set-device-access-rule', "
      "'set-default-access-level') ORDER BY id");
  ASSERT_TRUE(q.ok());
  int rows = 0;
  while (q->step().value()) {
    ++rows;
    EXPECT_EQ(q->text(1), "failed") << q->text(0);
    EXPECT_EQ(q->text(2).rfind("not sent: ", 0), 0u) << q->text(2);
  }
  EXPECT_EQ(rows, 2);
}

}  // namespace
}  // namespace easgate::agent::api
