// powershell/bridge.ps1 run for real, in PowerShell 7, in -Mode module with FakeExchange.psm1
// providing the cmdlets: the script's framing, splatting, batching, error classification and
// refusals, through the same BridgeProcess the agent uses.
//
// PowerShell comes from $EASGATE_PWSH, else pwsh on PATH, else easgate-pwsh-host (the engine
// from NuGet, built from tests/pwsh-host when the .NET SDK is present). With none of them the
// tests are skipped, and say so.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <boost/process/search_path.hpp>

#include "powershell/host/bridge_process.h"
#include "tests/support/scratch.h"

namespace easgate::powershell {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string findPowerShell() {
  if (const char* configured = std::getenv("EASGATE_PWSH"); configured && *configured) {
    return configured;
  }
  if (auto pwsh = boost::process::search_path("pwsh"); !pwsh.empty()) return pwsh.string();
  std::error_code ec;
  if (fs::is_regular_file(EASGATE_PWSH_HOST, ec)) return EASGATE_PWSH_HOST;
  return "";
}

class BridgeScript : public ::testing::Test {
 protected:
  void SetUp() override {
    powershell_ = findPowerShell();
    if (powershell_.empty()) {
      GTEST_SKIP() << "\n*** NO POWERSHELL: bridge.ps1 was NOT run. Neither $EASGATE_PWSH, pwsh on "
                      "PATH, nor "
                   << EASGATE_PWSH_HOST
                   << " (built from tests/pwsh-host when the .NET SDK and NuGet are reachable) "
                      "exists. ***\n";
    }
    marker_ = easgate::testing::scratchPath("danger");
    fs::remove(marker_);
  }
  void TearDown() override {
    if (!marker_.empty()) fs::remove(marker_);
  }

  std::unique_ptr<BridgeProcess> start(int devices = 3, int batch_size = 500,
                                       double heartbeat_seconds = 15,
                                       std::vector<std::pair<std::string, std::string>> env = {}) {
    BridgeScriptSettings settings;
    settings.powershell = powershell_;
    settings.script = EASGATE_BRIDGE_SCRIPT;
    settings.mode = BridgeMode::kModule;
    settings.module_path = EASGATE_FAKE_EXCHANGE_MODULE;
    settings.batch_size = batch_size;
    settings.heartbeat_seconds = heartbeat_seconds;
    auto command = bridgeScriptCommand(settings);
    EXPECT_TRUE(command.ok()) << command.error().message;
    if (!command.ok()) return nullptr;
    command->environment.emplace_back("FAKE_EXCHANGE_DEVICES", std::to_string(devices));
    command->environment.emplace_back("FAKE_EXCHANGE_MARKER", marker_.string());
    for (auto& e : env) command->environment.push_back(std::move(e));
    BridgeProcessOptions options;
    options.connect_timeout = 60s;  // a cold PowerShell start on a busy CI machine
    options.request_timeout = 60s;
    auto bridge = BridgeProcess::start(command.value(), options);
    EXPECT_TRUE(bridge.ok()) << bridge.error().message;
    return bridge.ok() ? std::move(bridge).value() : nullptr;
  }

  std::string powershell_;
  fs::path marker_;
};

std::string prop(const PsValue& v, std::string_view name) {
  const PsObject* o = v.asObject();
  const PsValue* p = o ? o->property(name) : nullptr;
  return p && p->display() ? *p->display() : "";
}

std::vector<std::string> listProp(const PsValue& v, std::string_view name) {
  std::vector<std::string> out;
  const PsValue* p = v.asObject()->property(name);
  if (p && p->asObject()) {
    for (const auto& item : p->asObject()->items) out.push_back(*item.display());
  }
  return out;
}

BridgeRequest casMailbox(std::string identity) {
  return BridgeRequest{"Get-CASMailbox", {}}.with("Identity", std::move(identity));
}

TEST_F(BridgeScript, ConnectsAndAnswersWithTypedExchangeObjects) {
  auto bridge = start();
  ASSERT_TRUE(bridge);
  EXPECT_NE(bridge->readyInfo().find("\"mode\":\"module\""), std::string::npos)
      << bridge->readyInfo();
  auto r = bridge->run(BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", "tony@contoso.com"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->objects.size(), 3u);
  EXPECT_EQ(r->count, 3u);
  const PsObject* device = r->objects[0].asObject();
  ASSERT_NE(device, nullptr);
  EXPECT_TRUE(
      device->hasType("Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice"));
  EXPECT_EQ(prop(r->objects[2], "DeviceId"), "DEV000003");
  const PsValue* first_sync = device->property("FirstSyncTime");
  ASSERT_NE(first_sync, nullptr);
  ASSERT_TRUE(first_sync->asDateTime().has_value()) << "a DateTime stays a DateTime";
  EXPECT_EQ(first_sync->asDateTime()->kind, DateTimeKind::kUtc);
  EXPECT_NE(prop(r->objects[0], "Identity").find("ExchangeActiveSyncDevices/iPhone\xC2\xA7"),
            std::string::npos)
      << "non-ASCII survives the frames";
}

TEST_F(BridgeScript, StreamsLargeResultsInBatchesWithExchangesResultSizeWarning) {
  auto bridge = start(2500, 100);
  ASSERT_TRUE(bridge);
  std::size_t batches = 0, objects = 0;
  auto all = bridge->run(BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "Unlimited"),
                         [&](std::vector<PsValue>&& batch) {
                           ++batches;
                           objects += batch.size();
                           EXPECT_LE(batch.size(), 100u);
                         });
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(objects, 2505u) << "tony's 2500 and the other four mailboxes' five";
  EXPECT_EQ(all->count, 2505u);
  EXPECT_EQ(batches, 26u);

  auto capped = bridge->run(BridgeRequest{"Get-MobileDevice", {}});
  ASSERT_TRUE(capped.ok()) << capped.error().message;
  EXPECT_EQ(capped->objects.size(), 1000u);
  ASSERT_EQ(capped->warnings.size(), 1u);
  EXPECT_NE(capped->warnings[0].find("-ResultSize Unlimited"), std::string::npos);
}

TEST_F(BridgeScript, SplatsTheThreeFormsOfADeviceIdListAndConfirmsForTheUser) {
  auto bridge = start();
  ASSERT_TRUE(bridge);
  auto set = [&](ParameterValue allowed) {
    return bridge->run(BridgeRequest{"Set-CASMailbox", {}}
                           .with("Identity", "tony@contoso.com")
                           .with("ActiveSyncAllowedDeviceIDs", std::move(allowed)));
  };
  auto allowed = [&] {
    auto r = bridge->run(casMailbox("tony@contoso.com"));
    EXPECT_TRUE(r.ok() && r->objects.size() == 1u);
    return r.ok() && !r->objects.empty() ? listProp(r->objects[0], "ActiveSyncAllowedDeviceIDs")
                                         : std::vector<std::string>{"?"};
  };
  // Set-CASMailbox is ConfirmImpact High: without -Confirm:$false it would try to prompt.
  ASSERT_TRUE(set(std::vector<std::string>{"A1", "A2"}).ok());
  EXPECT_EQ(allowed(), (std::vector<std::string>{"A1", "A2"})) << "a list replaces";
  ASSERT_TRUE(set(ListEdit{{"A3"}, {"A1"}}).ok());
  EXPECT_EQ(allowed(), (std::vector<std::string>{"A2", "A3"})) << "@{Add; Remove} edits";
  ASSERT_TRUE(set(nullptr).ok());
  EXPECT_TRUE(allowed().empty()) << "null clears";

  auto wipe = bridge->run(BridgeRequest{"Clear-MobileDevice", {}}
                              .with("Identity",
                                    "contoso.com/Users/Tony Smith/"
                                    "ExchangeActiveSyncDevices/iPhone\xC2\xA7"
                                    "DEV000002")
                              .with("AccountOnly", true));
  ASSERT_TRUE(wipe.ok()) << wipe.error().message;
  auto stats = bridge->run(
      BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Mailbox", "tony@contoso.com"));
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->objects.size(), 3u);
  EXPECT_EQ(prop(stats->objects[1], "Status"), "AccountOnlyDeviceWipePending");
  EXPECT_EQ(prop(stats->objects[0], "Status"), "DeviceOk");
}

TEST_F(BridgeScript, ClassifiesExchangesErrorsAndKeepsItsMessage) {
  auto bridge = start();
  ASSERT_TRUE(bridge);
  auto missing = bridge->run(casMailbox("nobody@contoso.com"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, BridgeErrc::kNotFound);
  EXPECT_EQ(missing.error().message,
            "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be "
            "found on 'DC01.contoso.com'.");
  EXPECT_EQ(missing.error().exception_type, "ManagementObjectNotFoundException");

  auto throttled = bridge->run(casMailbox("fault:throttled"));
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.error().code, BridgeErrc::kThrottled);
  EXPECT_EQ(throttled.error().retry_after_ms, 2500);

  auto sessions = bridge->run(casMailbox("fault:session-limit"));
  ASSERT_FALSE(sessions.ok());
  EXPECT_EQ(sessions.error().code, BridgeErrc::kSessionLimit);
  EXPECT_TRUE(sessions.error().retryable());

  auto both = bridge->run(BridgeRequest{"Set-CASMailbox", {}}
                              .with("Identity", "tony@contoso.com")
                              .with("ActiveSyncAllowedDeviceIDs", ListEdit{{"X"}, {}})
                              .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"X"}, {}}));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().code, BridgeErrc::kDeviceIdInBothLists);
  EXPECT_FALSE(both.error().retryable());
  EXPECT_NE(both.error().message.find("ErrorDeviceIdInBothLists"), std::string::npos);

  auto other = bridge->run(casMailbox("fault:terminating"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, BridgeErrc::kOther);
  EXPECT_EQ(other.error().message, "Active Directory operation failed on DC01.contoso.com.");
  EXPECT_FALSE(other.error().retryable());

  EXPECT_TRUE(bridge->healthy()) << "Exchange's errors leave the connection usable";
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
}

TEST_F(BridgeScript, AnswersRequestsSentTogetherInOrderWhateverEachOneDoes) {
  // How a harvest asks for many mailboxes' statistics: the lines wait in bridge.ps1's input
  // while it answers the one before; an Exchange error answers its own request only.
  auto bridge = start();
  ASSERT_TRUE(bridge);
  const std::vector<BridgeRequest> requests = {
      casMailbox("tony@contoso.com"), casMailbox("nobody@contoso.com"),
      casMailbox("fault:throttled"),
      BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", "tony@contoso.com"),
      casMailbox("tony@contoso.com")};
  std::vector<std::size_t> objects(requests.size(), 0);
  auto outcomes = bridge->runEach(
      requests, [&](std::size_t i, std::vector<PsValue>&& batch) { objects[i] += batch.size(); });
  ASSERT_EQ(outcomes.size(), requests.size());
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].error().message;
  EXPECT_EQ(objects[0], 1u);
  ASSERT_FALSE(outcomes[1].ok());
  EXPECT_EQ(outcomes[1].error().code, BridgeErrc::kNotFound);
  ASSERT_FALSE(outcomes[2].ok());
  EXPECT_EQ(outcomes[2].error().code, BridgeErrc::kThrottled);
  ASSERT_TRUE(outcomes[3].ok()) << outcomes[3].error().message;
  EXPECT_EQ(objects[3], 3u);
  ASSERT_TRUE(outcomes[4].ok()) << outcomes[4].error().message;
  EXPECT_EQ(objects[4], 1u);
  EXPECT_TRUE(bridge->healthy());
}

TEST_F(BridgeScript, ALostConnectionEndsTheBridgeAndTheRequestIsRetryable) {
  auto bridge = start();
  ASSERT_TRUE(bridge);
  auto lost = bridge->run(casMailbox("fault:transport"));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, BridgeErrc::kBridgeFailed);
  EXPECT_TRUE(lost.error().retryable());
  EXPECT_NE(lost.error().message.find("connection to ex01.contoso.com was lost"), std::string::npos)
      << lost.error().message;
  EXPECT_EQ(bridge->close(20s), std::optional<int>(75));
}

TEST_F(BridgeScript, RequestTextNeverBecomesScriptAndOnlyAllowlistedCmdletsRun) {
  auto bridge = start();
  ASSERT_TRUE(bridge);
  for (std::string identity : {std::string("x'; Invoke-Danger; '"), std::string("$(Invoke-Danger)"),
                               std::string("\"; Invoke-Danger #")}) {
    auto r = bridge->run(casMailbox(identity));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, BridgeErrc::kNotFound);
    EXPECT_NE(r.error().message.find("object '" + identity + "'"), std::string::npos)
        << "the identity arrived as one literal string: " << r.error().message;
  }
  // Past the C++ checks: the script refuses by itself.
  auto danger = bridge->runUncheckedForTest(BridgeRequest{"Invoke-Danger", {}});
  ASSERT_FALSE(danger.ok());
  EXPECT_EQ(danger.error().code, BridgeErrc::kInvalidArgument);
  EXPECT_NE(danger.error().message.find("not an allowlisted cmdlet"), std::string::npos);
  auto extra = bridge->runUncheckedForTest(BridgeRequest{"Get-CASMailbox", {}}
                                               .with("Identity", "tony@contoso.com")
                                               .with("OutVariable", "x"));
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.error().message.find("does not take -OutVariable"), std::string::npos);
  auto empty =
      bridge->runUncheckedForTest(BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", ""));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("non-empty"), std::string::npos)
      << "an empty identity would list every device";

  EXPECT_FALSE(fs::exists(marker_)) << "Invoke-Danger ran";
  EXPECT_TRUE(bridge->healthy());
}

TEST_F(BridgeScript, HeartbeatsWhileIdleAndExitsCleanlyOnEof) {
  auto bridge = start(3, 500, 0.05);
  ASSERT_TRUE(bridge);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (bridge->heartbeats() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(bridge->heartbeats(), 2u);
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
  EXPECT_EQ(bridge->close(20s), std::optional<int>(0));
}

// Exchange Online's REST cmdlets run in place of the remote-session ones where the module has
// them; the agent asks by the original names and reads the answers the same way.
TEST_F(BridgeScript, UsesExchangeOnlinesRestCmdletsWhereTheModuleHasThem) {
  auto bridge = start(3, 500, 15, {{"FAKE_EXCHANGE_REST", "1"}});
  ASSERT_TRUE(bridge);
  EXPECT_NE(bridge->readyInfo().find("Get-EXOMobileDeviceStatistics"), std::string::npos)
      << bridge->readyInfo();
  auto stats = bridge->run(
      BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Mailbox", "tony@contoso.com"));
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_EQ(stats->objects.size(), 3u);
  EXPECT_TRUE(stats->objects[0].asObject()->hasType(
      "Microsoft.Exchange.Management.RestApiClient.MobileDeviceStatistics"))
      << "Get-EXOMobileDeviceStatistics answered";
  auto cas = bridge->run(casMailbox("tony@contoso.com"));
  ASSERT_TRUE(cas.ok()) << cas.error().message;
  ASSERT_EQ(cas->objects.size(), 1u);
  EXPECT_NE(prop(cas->objects[0], "ExternalDirectoryObjectId"), "")
      << "Get-EXOCASMailbox answered, with the ActiveSync property set";
  EXPECT_NE(prop(cas->objects[0], "PrimarySmtpAddress"), "") << "and the Minimum one";
  auto missing = bridge->run(casMailbox("nobody@contoso.com"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, BridgeErrc::kNotFound) << "Exchange's errors pass through";
}

TEST_F(BridgeScript, FallsBackToTheOriginalWhenTheModulesRestCmdletCannotTakeTheRequest) {
  auto bridge = start(3, 500, 15, {{"FAKE_EXCHANGE_REST", "old"}});
  ASSERT_TRUE(bridge);
  for (int i = 0; i < 2; ++i) {
    auto cas = bridge->run(casMailbox("tony@contoso.com"));
    ASSERT_TRUE(cas.ok()) << cas.error().message;
    ASSERT_EQ(cas->objects.size(), 1u);
    EXPECT_TRUE(cas->objects[0].asObject()->hasType(
        "Microsoft.Exchange.Data.Directory.Management.CASMailbox"))
        << "Get-CASMailbox answered: this module's Get-EXOCASMailbox takes no -PropertySets";
  }
}

TEST(BridgeScriptCommand, BuildsEachModesCommandLineAndRefusesIncompleteSettings) {
  BridgeScriptSettings s;
  s.powershell = "/opt/microsoft/powershell/7/pwsh";
  s.script = EASGATE_BRIDGE_SCRIPT;
  s.mode = BridgeMode::kOnline;
  s.app_id = "8f6b1c2d-0000-4000-8000-000000000000";
  s.organization = "contoso.onmicrosoft.com";
  s.certificate_file = "/etc/easgate/exo.pfx";
  s.certificate_password = "s3cret";
  auto online = bridgeScriptCommand(s);
  ASSERT_TRUE(online.ok()) << online.error().message;
  const auto& a = online->arguments;
  EXPECT_EQ(
      std::vector<std::string>(a.begin(), a.begin() + 7),
      (std::vector<std::string>{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy",
                                "Bypass", "-File", EASGATE_BRIDGE_SCRIPT}));
  EXPECT_EQ(std::find(a.begin(), a.end(), "s3cret"), a.end())
      << "the password is never on the command line";
  ASSERT_EQ(online->environment.size(), 1u);
  EXPECT_EQ(online->environment[0].second, "s3cret");
  EXPECT_EQ(online->program, "/opt/microsoft/powershell/7/pwsh") << "a path is taken as it is";

  // A bare name, as a configuration says "pwsh", is found on the PATH like a shell finds it
  // (on Windows with the extensions PATHEXT names: "cmd" is cmd.exe).
#ifdef _WIN32
  s.powershell = "cmd";
#else
  s.powershell = "sh";
#endif
  auto by_name = bridgeScriptCommand(s);
  ASSERT_TRUE(by_name.ok());
  EXPECT_TRUE(std::filesystem::path(by_name->program).is_absolute()) << by_name->program;
  s.powershell = "/opt/microsoft/powershell/7/pwsh";

  s.certificate_thumbprint = "AB12";
  EXPECT_FALSE(bridgeScriptCommand(s).ok()) << "a file and a thumbprint";
  s.mode = BridgeMode::kOnPremises;
  EXPECT_FALSE(bridgeScriptCommand(s).ok()) << "no server";
  s.server = "ex01.contoso.com";
  auto onprem = bridgeScriptCommand(s);
  ASSERT_TRUE(onprem.ok());
  EXPECT_NE(std::find(onprem->arguments.begin(), onprem->arguments.end(), "ex01.contoso.com"),
            onprem->arguments.end());
  s.script = "/nonexistent/bridge.ps1";
  auto missing = bridgeScriptCommand(s);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/bridge.ps1"), std::string::npos);
}

}  // namespace
}  // namespace easgate::powershell
