// Exchange as it is, end to end: requests over 9090 (TLS, client certificates) to `easgate run`,
// through the journal and a pool of two bridge.ps1 processes in real PowerShell 7 (module mode)
// to tests/powershell/FakeExchange.psm1, which keeps one organisation for the whole pool and
// behaves as Exchange documents (not as the agent expects); then a full harvest, then reads.
// One test per case of issue 11; each failed before mailboxes had keys.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "agent/transport/certificates.h"
#include "common/json/json_value.h"
#include "protocol/client.h"
#include "tests/service/cli_test_support.h"
#include "tests/service/running_agent.h"

namespace easgate::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kTony = "tony@contoso.com";
const std::string kTonysIdentity = "contoso.com/Users/Tony Smith";
const std::string kSection = "\xC2\xA7";

// The PowerShell to run bridge.ps1 in: $EASGATE_PWSH, else pwsh on the PATH.
std::string findPwsh() {
  if (const char* p = std::getenv("EASGATE_PWSH"); p && *p) return p;
  return std::system("command -v pwsh >/dev/null 2>&1") == 0 ? "pwsh" : "";
}

class ExchangeSemantics : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    pwsh_ = findPwsh();
    if (pwsh_.empty()) {
      GTEST_SKIP() << "\n*** NO POWERSHELL: the end-to-end Exchange tests were NOT run. Install "
                      "pwsh (.ci/install-deps does, where the .NET SDK exists) or set "
                      "$EASGATE_PWSH. ***\n";
    }
    ASSERT_TRUE(agent::transport::ensureDevelopmentPki(dir_ / "pki", {}).ok());
    std::ofstream(dir_ / "easgate.json")
        << R"({
      "data_dir": "data",
      "listen": {"address": "127.0.0.1", "port": 0},
      "tls": {"certificate": "pki/server.pem", "key": "pki/server.key", "client_ca": "pki/ca.pem"},
      "clients": [{"subject": "CN=easgate-admin", "role": "admin"}],
      "exchange": {"kind": "module", "powershell": ")"
        << pwsh_ << R"(", "bridge_script": ")" << EASGATE_BRIDGE_SCRIPT << R"(", "module": ")"
        << EASGATE_FAKE_EXCHANGE_MODULE << R"(", "pool": 2,
                   "request_timeout_seconds": 120},
      "harvest": {"full_minutes": 600, "delta_minutes": 0, "correct_drift": true},
      "commands": {"first_retry_seconds": 1},
      "log": {"file": "-", "system_log": false}
    })";
    environment_ = {{"FAKE_EXCHANGE_STATE", (dir_ / "exchange.json").string()}};
  }
  void TearDown() override {
    stop();
    CliTest::TearDown();
  }

  // Starts `easgate run` (its first full harvest runs at once) and waits for it to listen.
  void start() {
    const RunningAgent agent = startEasgateRun(dir_, environment_);
    pid_ = agent.pid;
    port_ = agent.port;
    ASSERT_GT(port_, 0) << slurp(dir_ / "run.log");
  }
  void stop() {
    stopProcessGroup(pid_);
    pid_ = -1;
  }
  // A full harvest now: the agent harvests in full when it starts.
  void restartAndHarvest() {
    stop();
    const int harvests = harvestCount();
    start();
    for (int i = 0; i < 600; ++i) {
      if (harvestCount() > harvests) return;
      std::this_thread::sleep_for(100ms);
    }
    FAIL() << "no full harvest within a minute: " << slurp(dir_ / "run.log");
  }
  // Full harvests recorded so far, from the run log (the agent logs each one).
  int harvestCount() {
    const std::string log = slurp(dir_ / "run.log");
    int n = 0;
    for (auto at = log.find("full harvest:"); at != std::string::npos;
         at = log.find("full harvest:", at + 1)) {
      ++n;
    }
    return n;
  }

  CliRun ctl(const std::string& args) {
    const std::string pki = (dir_ / "pki").string();
    return run("ctl --url https://localhost:" + std::to_string(port_) + " --ca '" + pki +
               "/ca.pem' --cert '" + pki + "/admin.pem' --key '" + pki + "/admin.key' " + args);
  }
  json::JsonValue ctlJson(const std::string& args) {
    CliRun r = ctl(args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.out << r.err;
    auto doc = json::parseJson(r.out);
    EXPECT_TRUE(doc.ok()) << args << ": " << r.out;
    return doc.ok() ? std::move(doc).value() : json::JsonValue();
  }
  std::int64_t submit(const std::string& args) {
    const json::JsonValue c = ctlJson(args);
    const json::JsonValue* id = c.find("id");
    return id && id->asInt() ? *id->asInt() : 0;
  }
  // The command's final state; says why when it did not succeed.
  std::string waitFor(std::int64_t id) {
    const std::string args = "command " + std::to_string(id) + " --wait 60";
    const json::JsonValue c = ctlJson(args);
    const std::string state = text(c, "state");
    if (state != "succeeded") {
      ADD_FAILURE() << ctl(args).out << "\n" << slurp(dir_ / "run.log");
    }
    return state;
  }
  static std::vector<std::string> strings(const json::JsonValue& v, const char* key) {
    std::vector<std::string> out;
    const json::JsonValue* m = v.find(key);
    if (m && m->asArray()) {
      for (const auto& item : *m->asArray())
        out.push_back(item.asString() ? *item.asString() : "?");
    }
    return out;
  }
  static std::string text(const json::JsonValue& v, const char* key) {
    const json::JsonValue* m = v.find(key);
    return m && m->asString() ? *m->asString() : "";
  }
  std::string quoted(const std::string& s) { return "'" + s + "'"; }
  int eventsOfKind(const std::string& kind) {
    const std::string out = ctl("events --after 0 --limit 1000").out;
    int n = 0;
    for (auto at = out.find("\"kind\":\"" + kind + "\""); at != std::string::npos;
         at = out.find("\"kind\":\"" + kind + "\"", at + 1)) {
      ++n;
    }
    return n;
  }

  std::string pwsh_;
  std::vector<std::pair<std::string, std::string>> environment_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Case 1: a mailbox named two ways is one mailbox, and drift correction keeps the MDM's latest
// decision.
TEST_F(ExchangeSemantics, AMailboxNamedTwoWaysIsOneMailbox) {
  start();
  const auto a = submit("allow " + kTony + " D1");
  const auto b = submit("revoke " + kTony + " D2");
  const auto c = submit("set-allowed " + quoted(kTonysIdentity) + " D2 D3");
  for (auto id : {a, b, c}) ASSERT_EQ(waitFor(id), "succeeded") << slurp(dir_ / "run.log");
  restartAndHarvest();
  restartAndHarvest();  // and once more, after any correction the first could have queued
  EXPECT_EQ(eventsOfKind("list-drift"), 0) << "no drift: one mailbox, one desired list";
  for (const std::string& name :
       {kTony, kTonysIdentity, std::string("TONY.SMITH@contoso.com"), std::string("tsmith")}) {
    const json::JsonValue lists = ctlJson("lists " + quoted(name));
    EXPECT_EQ(text(lists, "mailbox"), kTonysIdentity) << name;
    EXPECT_EQ(strings(lists, "allowed"), (std::vector<std::string>{"D2", "D3"})) << name;
    EXPECT_EQ(strings(lists, "desiredAllowed"), (std::vector<std::string>{"D2", "D3"})) << name;
  }
  const std::string status = ctl("status").out;
  EXPECT_NE(status.find("\"succeeded\":3"), std::string::npos)
      << "no correction was queued: " << status;
}

// Case 2: "in order per mailbox" holds whatever name each command uses.
TEST_F(ExchangeSemantics, CommandsRunInOrderPerMailboxWhateverItsName) {
  // Adding takes Exchange a while: a revoke run beside its allow would overtake it.
  environment_.emplace_back("FAKE_EXCHANGE_ADD_LATENCY_MS", "300");
  start();
  // The MDM sends its sixteen commands at once, over one kept-alive connection.
  const std::string pki = (dir_ / "pki").string();
  auto client =
      protocol::ApiClient::create({"https://localhost:" + std::to_string(port_), pki + "/ca.pem",
                                   pki + "/admin.pem", pki + "/admin.key"});
  ASSERT_TRUE(client.ok()) << client.error();
  // While the agent is busy with another mailbox's slow command, all sixteen arrive, so the
  // agent has them all to order at once.
  const std::int64_t other = submit("allow lila@contoso.com LILA00001");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 8; ++i) {
    const std::string id = "PAIR" + std::to_string(i);
    for (const auto& [kind, mailbox] : {std::pair{"allow", kTony}, {"revoke", kTonysIdentity}}) {
      auto r = client.value()->send("POST", "/v1/commands",
                                    std::string(R"({"kind":")") + kind + R"(","mailbox":")" +
                                        mailbox + R"(","deviceId":")" + id + R"("})",
                                    {{"Content-Type", "application/json"}});
      ASSERT_TRUE(r.ok()) << r.error();
      ASSERT_EQ(r->status, 202) << r->body;
      ids.push_back(*json::parseJson(r->body)->find("id")->asInt());
    }
  }
  for (auto id : ids) ASSERT_EQ(waitFor(id), "succeeded");
  ASSERT_EQ(waitFor(other), "succeeded");
  restartAndHarvest();  // what Exchange holds now
  const json::JsonValue lists = ctlJson("lists " + kTony);
  EXPECT_TRUE(strings(lists, "allowed").empty())
      << "every revoke ran after its allow: " << ctl("lists " + kTony).out;
}

// Case 3: statistics typed as this Exchange types them (MobileDeviceConfiguration) are read:
// the wipe the MDM sent is seen.
TEST_F(ExchangeSemantics, StatisticsOfAnyTypeShowTheWipe) {
  start();
  for (int i = 0; i < 600 && harvestCount() == 0; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(harvestCount(), 1) << "the device is known before the wipe";
  const std::string device =
      kTonysIdentity + "/ExchangeActiveSyncDevices/iPhone" + kSection + "DEV000002";
  ASSERT_EQ(waitFor(submit("wipe " + quoted(device))), "succeeded");
  restartAndHarvest();
  const json::JsonValue d = ctlJson("device " + quoted(device));
  const json::JsonValue* record = d.find("device");
  const json::JsonValue& r = record ? *record : d;
  EXPECT_EQ(text(r, "wipeStatus"), "DeviceWipePending") << ctl("device " + quoted(device)).out;
  EXPECT_NE(text(r, "wipeRequestTime"), "");
  EXPECT_NE(text(r, "lastSuccessSync"), "");
  EXPECT_GE(eventsOfKind("wipe-status-changed"), 1);
}

// Case 4: blocking a device that is on the allowed list takes it off that list, and drift
// correction does not undo the block.
TEST_F(ExchangeSemantics, ABlockOfAnAllowedDeviceStands) {
  start();
  ASSERT_EQ(waitFor(submit("allow " + kTony + " DEV000001")), "succeeded");
  ASSERT_EQ(waitFor(submit("block " + quoted(kTonysIdentity) + " DEV000001")), "succeeded");
  restartAndHarvest();
  restartAndHarvest();
  const json::JsonValue lists = ctlJson("lists " + kTony);
  EXPECT_EQ(strings(lists, "blocked"), std::vector<std::string>{"DEV000001"});
  EXPECT_TRUE(strings(lists, "allowed").empty()) << ctl("lists " + kTony).out;
  EXPECT_EQ(strings(lists, "desiredBlocked"), std::vector<std::string>{"DEV000001"});
  EXPECT_TRUE(strings(lists, "desiredAllowed").empty());
  const std::string device =
      kTonysIdentity + "/ExchangeActiveSyncDevices/iPhone" + kSection + "DEV000001";
  EXPECT_NE(ctl("device " + quoted(device)).out.find("\"accessState\":\"Blocked\""),
            std::string::npos);
  EXPECT_EQ(eventsOfKind("list-drift"), 0);
}

// Case 5: one mailbox whose statistics fail does not sink the harvest.
TEST_F(ExchangeSemantics, AMailboxWhoseDatabaseIsOfflineDoesNotSinkTheHarvest) {
  environment_.emplace_back("FAKE_EXCHANGE_STATISTICS_OFFLINE", "lila@contoso.com");
  start();
  for (int i = 0; i < 600 && harvestCount() == 0; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(harvestCount(), 1) << slurp(dir_ / "run.log");
  const std::string devices = ctl("devices --limit 100").out;
  EXPECT_NE(devices.find("DEV000001"), std::string::npos) << "the harvest was stored";
  EXPECT_NE(devices.find("LILA00001"), std::string::npos)
      << "the offline mailbox's devices are listed too";
  EXPECT_EQ(eventsOfKind("mailbox-statistics-failed"), 1);
  EXPECT_NE(ctl("events --after 0 --limit 1000").out.find("MdbOffline"), std::string::npos);
}

// Exchange Online's REST cmdlets answer in other types and with property sets: the agent reads
// them the same, because it classifies what a cmdlet returns by the cmdlet.
TEST_F(ExchangeSemantics, ExchangeOnlinesRestCmdletsAreReadTheSame) {
  environment_.emplace_back("FAKE_EXCHANGE_REST", "1");
  start();
  for (int i = 0; i < 600 && harvestCount() == 0; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(harvestCount(), 1) << slurp(dir_ / "run.log");
  const std::string device =
      kTonysIdentity + "/ExchangeActiveSyncDevices/iPhone" + kSection + "DEV000001";
  const json::JsonValue d = ctlJson("device " + quoted(device));
  const json::JsonValue* record = d.find("device");
  EXPECT_NE(text(record ? *record : d, "lastSuccessSync"), "")
      << ctl("device " + quoted(device)).out;
  ASSERT_EQ(waitFor(submit("allow tsmith@contoso.onmicrosoft.com DEV000002")), "succeeded");
  const json::JsonValue lists = ctlJson("lists " + kTony);
  EXPECT_EQ(strings(lists, "allowed"), std::vector<std::string>{"DEV000002"});
}

// Issue 13: the first policy, through ctl and 9090 to Exchange. A plan lists who would be
// quarantined; applying it with every Allowed device kept leaves them Allowed (Individual) and
// the rest as Exchange decides; an agent killed in the middle of the apply resumes without
// sending the default before the allowed lists are done; rollback restores the default.
TEST_F(ExchangeSemantics, ThePolicyIsPlannedAppliedThroughACrashAndRolledBack) {
  // Each Set-CASMailbox that adds an ID takes a while, so that the agent can be killed while
  // the allows are still running.
  environment_.emplace_back("FAKE_EXCHANGE_ADD_LATENCY_MS", "1500");
  start();
  const std::string blocked =
      kTonysIdentity + "/ExchangeActiveSyncDevices/iPhone" + kSection + "DEV000003";
  ASSERT_EQ(waitFor(submit("block " + kTony + " DEV000003")), "succeeded");
  restartAndHarvest();
  const json::JsonValue shown = ctlJson("policy show");
  ASSERT_NE(shown.find("settings"), nullptr) << ctl("policy show").out;
  EXPECT_EQ(text(*shown.find("settings"), "defaultAccessLevel"), "Allow");

  // Without grandfathering: the six Allowed devices would be quarantined, the blocked one not.
  const json::JsonValue none = ctlJson("policy plan quarantine --grandfather none");
  ASSERT_NE(none.find("changes"), nullptr);
  std::set<std::string> quarantined;
  for (const auto& c : *none.find("changes")->asArray()) {
    EXPECT_EQ(text(*c.find("to"), "accessState"), "Quarantined");
    quarantined.insert(text(c, "deviceId"));
  }
  EXPECT_EQ(quarantined, (std::set<std::string>{"DEV000001", "DEV000002", "LILA00001", "ZOE00001",
                                                "ANN00001", "ANN00002", "ANNS0001"}));

  const json::JsonValue plan = ctlJson("policy plan Quarantine");
  const std::string plan_id = text(plan, "id");
  ASSERT_EQ(plan.find("commands")->asArray()->size(), 8u) << "seven allows, then the default";
  CliRun applied = ctl("policy apply " + plan_id);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  auto doc = json::parseJson(applied.out);
  ASSERT_TRUE(doc.ok());
  const std::int64_t apply_id = *doc->find("applyId")->asInt();

  // Killed while the allows run (each takes 1.5 s on a pool of two).
  std::this_thread::sleep_for(2500ms);
  stopProcessGroup(pid_, SIGKILL);
  pid_ = -1;
  EXPECT_NE(slurp(dir_ / "exchange.json").find("\"DefaultAccessLevel\":\"Allow\""),
            std::string::npos)
      << "the default must not change before every allow is done";
  start();
  EXPECT_EQ(waitFor(apply_id), "succeeded");
  EXPECT_NE(slurp(dir_ / "exchange.json").find("\"DefaultAccessLevel\":\"Quarantine\""),
            std::string::npos);
  // The agent harvests at once after a policy change: the policy shows it without waiting for
  // the timers.
  std::string level;
  for (int i = 0; i < 300 && level != "Quarantine"; ++i) {
    std::this_thread::sleep_for(100ms);
    const json::JsonValue now = ctlJson("policy show");
    if (const json::JsonValue* s = now.find("settings")) level = text(*s, "defaultAccessLevel");
  }
  EXPECT_EQ(level, "Quarantine");
  restartAndHarvest();
  const json::JsonValue devices = ctlJson("devices --limit 1000");
  for (const auto& d : *devices.find("devices")->asArray()) {
    if (text(d, "identity") == blocked) {
      EXPECT_EQ(text(d, "accessState"), "Blocked");
      continue;
    }
    EXPECT_EQ(text(d, "accessState"), "Allowed") << text(d, "identity");
    EXPECT_EQ(text(d, "accessStateReason"), "Individual") << text(d, "identity");
  }
  EXPECT_EQ(text(*ctlJson("policy show").find("settings"), "defaultAccessLevel"), "Quarantine");

  // Rolled back with the IDs it added: the default is Allow again, the lists as before.
  const json::JsonValue rollback = ctlJson("policy rollback --remove-grandfathered");
  const auto& undo = *rollback.find("commands")->asArray();
  ASSERT_EQ(undo.size(), 8u);
  for (const auto& c : undo) EXPECT_EQ(waitFor(*c.find("id")->asInt()), "succeeded");
  restartAndHarvest();
  EXPECT_EQ(text(*ctlJson("policy show").find("settings"), "defaultAccessLevel"), "Allow");
  const json::JsonValue lists = ctlJson("lists " + kTony);
  EXPECT_TRUE(strings(lists, "allowed").empty()) << ctl("lists " + kTony).out;
  EXPECT_EQ(strings(lists, "blocked"), std::vector<std::string>{"DEV000003"});
}

// Device access rules and quarantine recipients, through ctl and real PowerShell: a rule is
// made, made again (its level set, no duplicate), and removed; Exchange decides the devices it
// names; the recipients are set.
TEST_F(ExchangeSemantics, DeviceAccessRulesAndRecipientsAreSetInExchange) {
  start();
  auto settle = [&](const std::string& args) {
    const json::JsonValue c = ctlJson(args);
    const json::JsonValue* id = c.find("id");
    ASSERT_TRUE(id && id->asInt()) << args;
    EXPECT_EQ(waitFor(*id->asInt()), "succeeded") << args;
  };
  settle("policy set-rule Android devicetype block");
  std::string state = slurp(dir_ / "exchange.json");
  EXPECT_NE(state.find("\"Name\":\"Android (DeviceType)\""), std::string::npos) << state;
  restartAndHarvest();
  const std::string lila =
      "contoso.com/Users/Lila Okafor/ExchangeActiveSyncDevices/Android" + kSection + "LILA00001";
  const std::string device = ctl("device " + quoted(lila)).out;
  EXPECT_NE(device.find("\"accessState\":\"Blocked\""), std::string::npos) << device;
  EXPECT_NE(device.find("\"accessStateReason\":\"DeviceRule\""), std::string::npos) << device;

  settle("policy set-rule Android DeviceType Quarantine");
  state = slurp(dir_ / "exchange.json");
  EXPECT_NE(state.find("\"AccessLevel\":\"Quarantine\""), std::string::npos) << state;
  EXPECT_EQ(state.find("Android (DeviceType)"), state.rfind("Android (DeviceType)"))
      << "one rule, not two";
  settle("policy recipients mobile-admins@contoso.com");
  EXPECT_NE(slurp(dir_ / "exchange.json").find("mobile-admins@contoso.com"), std::string::npos);
  settle("policy remove-rule 'Android (DeviceType)'");
  EXPECT_EQ(slurp(dir_ / "exchange.json").find("Android (DeviceType)"), std::string::npos);
  const json::JsonValue rules = ctlJson("policy rules");
  ASSERT_NE(rules.find("rules"), nullptr);
}

}  // namespace
}  // namespace easgate::testing
