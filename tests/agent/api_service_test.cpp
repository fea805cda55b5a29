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
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "common/json/json_value.h"
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
    inventory_ = InventoryStore::open(inventoryFile(store::storeFile(dir_))).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    harvester_ =
        std::make_unique<Harvester>(*harvest_db_, *inventory_, gateway_, journal_.get(), clock_);
    directory_db_ = store::openStore(store::storeFile(dir_)).value();
    directory_ = std::make_unique<MailboxDirectory>(*directory_db_);
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
    directory_db_.reset();
    harvester_.reset();
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
  std::unique_ptr<store::Database> db_, harvest_db_;
  std::unique_ptr<InventoryStore> inventory_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<Harvester> harvester_;
  std::unique_ptr<store::Database> directory_db_;
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
  EXPECT_EQ(denied, (std::vector<std::string>{"CN=reader|POST /v1/commands|/v1/commands",
                                              "CN=operat|wipe|" + partnership()}));
  EXPECT_TRUE(audit_->verify().ok());

  PeerIdentity stranger = peer("stranger");
  stranger.thumbprint = std::string(64, 'c');
  EXPECT_EQ(call(stranger, "GET", "/v1/health").status, 401) << "signed by the CA, but no role";
  EXPECT_EQ(call(PeerIdentity{}, "GET", "/v1/health").status, 401);
}

TEST_F(Api, ACommandIsJournaledWithTheClientsIdentityBeforeTheAnswer) {
  HttpResponse r = call(
      operator_, "POST",
      "/v1/mailboxes/" + protocol::percentEncode(facts().primary_smtp_address) + "/lists/blocked",
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
  std::string upper_address = facts().primary_smtp_address;
  for (char& ch : upper_address)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& name : {m, protocol::percentEncode(upper_address)}) {
    HttpResponse lists = call(reader_, "GET", "/v1/mailboxes/" + name + "/lists");
    ASSERT_EQ(lists.status, 200) << lists.body;
    const json::JsonValue lists_body = parse(lists);
    EXPECT_EQ(text(lists_body, "mailbox"), facts().identity);
    EXPECT_EQ(text(lists_body, "key"), facts().guid);
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
  HttpResponse no_type = call(admin_, "POST", "/v1/commands", "", {});
  EXPECT_EQ(no_type.status, 415);
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

  const std::string address = facts().primary_smtp_address;
  HttpResponse mine =
      call(reader_, "GET", "/v1/devices?mailbox=" + protocol::percentEncode(address));
  EXPECT_EQ(parse(mine).find("devices")->asArray()->size(), mailbox().devices.size());
  // Any other name of the mailbox finds the same devices: a proxy address, its SamAccountName.
  for (const std::string& name : {facts().proxy_addresses.at(0), facts().sam_account_name}) {
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
  Harvester harvester(*harvest_db_, *inventory_, gateway_, journal_.get(), clock_, options);
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
  org.removeDevice(*org.findDevice(mailbox().devices[0].guid));
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
