// The ExchangeGateway contract, run against both implementations: the real one over a bridge
// pool of easgate-exchange-sim processes, and the in-memory fake later unit tests use. Both
// start from the same organisation, so the fake cannot drift from what the bridge does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "agent/gateway/bridge_exchange_gateway.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;
using powershell::PsValue;

constexpr const char* kTony = "tony.smith@contoso.com";
constexpr const char* kLila = "lila.okafor@contoso.com";

sim::PartnershipFacts device(std::string id, std::string type) {
  sim::PartnershipFacts f;
  f.device_id = std::move(id);
  f.device_type = std::move(type);
  f.device_model = "Model";
  f.device_os = "OS";
  f.device_user_agent = "Agent/1.0";
  f.guid =
      sim::Guid("7d9e8f00-0000-4000-8000-0000000000" + std::to_string(10 + f.device_id.size()));
  return f;
}

sim::Organisation smallOrganisation() {
  sim::Organisation org;
  auto mailbox = [&](std::string name, std::string smtp, std::string sam, std::string guid) {
    sim::MailboxFacts m;
    m.identity = "contoso.com/Users/" + name;
    m.name = std::move(name);
    m.setPrimarySmtpAddress(std::move(smtp));
    m.sam_account_name = std::move(sam);
    m.guid = sim::Guid(guid);
    return &org.addMailbox(std::move(m));
  };
  sim::SimMailbox* tony =
      mailbox("Tony Smith", kTony, "tsmith", "aaaaaaaa-0000-4000-8000-000000000001");
  org.addDevice(*tony, device("APPL1", "iPhone"));
  org.addDevice(*tony, device("ANDROIDC22", "Android"));
  sim::SimMailbox* lila =
      mailbox("Lila Okafor", kLila, "lokafor", "aaaaaaaa-0000-4000-8000-000000000002");
  org.addDevice(*lila, device("APPL333", "iPad"));
  return org;
}

const std::string kTonysIphone =
    "contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/iPhone\xC2\xA7"
    "APPL1";

// One implementation under test, with what keeps it alive.
struct Subject {
  std::shared_ptr<void> owner;
  ExchangeGateway* gateway = nullptr;
};
using SubjectFactory = std::function<Subject()>;

Subject overSimulatorBridges() {
  struct Owned {
    fs::path org_file;
    std::unique_ptr<powershell::BridgePool> pool;
    std::unique_ptr<BridgeExchangeGateway> gateway;
    ~Owned() {
      gateway.reset();
      pool.reset();
      fs::remove(org_file);
    }
  };
  auto owned = std::make_shared<Owned>();
  owned->org_file = testing::scratchPath("gateway-org", ".json");
  std::ofstream(owned->org_file) << smallOrganisation().toJson();
  std::string org_file = owned->org_file.string();
  owned->pool = std::make_unique<powershell::BridgePool>(
      [org_file]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        auto b = powershell::BridgeProcess::start(
            powershell::BridgeCommand{EASGATE_SIM_BINARY, {"--org", org_file}, {}}, {});
        if (!b) return b.error();
        return std::unique_ptr<powershell::Bridge>(std::move(b).value());
      },
      1);
  owned->gateway = std::make_unique<BridgeExchangeGateway>(*owned->pool);
  return Subject{owned, owned->gateway.get()};
}

Subject inMemoryFake() {
  auto fake = std::make_shared<testing::FakeExchangeGateway>(smallOrganisation());
  return Subject{fake, fake.get()};
}

class GatewayContract : public ::testing::TestWithParam<SubjectFactory> {
 protected:
  void SetUp() override {
    subject_ = GetParam()();
    gateway_ = subject_.gateway;
  }

  // Objects a read returned, gathered from its batches.
  std::vector<PsValue> collect(const std::function<GatewayResult(const ObjectSink&)>& read) {
    std::vector<PsValue> out;
    auto r = read([&](std::vector<PsValue>&& batch) {
      out.insert(out.end(), std::make_move_iterator(batch.begin()),
                 std::make_move_iterator(batch.end()));
    });
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (r.ok()) {
      EXPECT_EQ(r->objects, out.size());
    }
    return out;
  }
  std::vector<PsValue> devicesOf(const char* mailbox) {
    return collect([&](const ObjectSink& s) { return gateway_->listDevices(s, mailbox); });
  }
  std::string statusOfFirstDevice(const char* mailbox) {
    auto stats =
        collect([&](const ObjectSink& s) { return gateway_->deviceStatistics(mailbox, s); });
    return stats.empty() ? "" : text(stats[0], "Status");
  }
  static std::string text(const PsValue& v, std::string_view property) {
    const PsValue* p = v.asObject()->property(property);
    return p && p->display() ? *p->display() : "";
  }
  static std::vector<std::string> list(const PsValue& v, std::string_view property) {
    std::vector<std::string> out;
    if (const PsValue* p = v.asObject()->property(property); p && p->asObject()) {
      for (const auto& item : p->asObject()->items) out.push_back(*item.display());
    }
    return out;
  }
  std::vector<std::string> blockedOf(const char* smtp) {
    for (const auto& m : collect([&](const ObjectSink& s) { return gateway_->casMailboxes(s); })) {
      if (text(m, "PrimarySmtpAddress") == smtp) return list(m, "ActiveSyncBlockedDeviceIDs");
    }
    ADD_FAILURE() << "no mailbox " << smtp;
    return {};
  }

  Subject subject_;
  ExchangeGateway* gateway_ = nullptr;
};

TEST_P(GatewayContract, ReadsDevicesStatisticsAndMailboxes) {
  auto all = collect([&](const ObjectSink& s) { return gateway_->listDevices(s); });
  EXPECT_EQ(all.size(), 3u);
  auto tonys = devicesOf(kTony);
  ASSERT_EQ(tonys.size(), 2u);
  EXPECT_TRUE(tonys[0].asObject()->hasType(
      "Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice"));
  EXPECT_EQ(text(tonys[0], "Identity"), kTonysIphone);
  auto stats = collect([&](const ObjectSink& s) { return gateway_->deviceStatistics(kLila, s); });
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(text(stats[0], "DeviceID"), "APPL333");
  EXPECT_EQ(collect([&](const ObjectSink& s) { return gateway_->casMailboxes(s); }).size(), 2u);
}

TEST_P(GatewayContract, StatisticsOfSeveralMailboxesAreEachAsAskedOneByOne) {
  const std::vector<std::string> mailboxes = {kTony, "ghost@contoso.com", "", kLila, kTony};
  std::vector<std::vector<PsValue>> got(mailboxes.size());
  auto results =
      gateway_->deviceStatisticsOfEach(mailboxes, [&](std::size_t i, std::vector<PsValue>&& batch) {
        got[i].insert(got[i].end(), std::make_move_iterator(batch.begin()),
                      std::make_move_iterator(batch.end()));
      });
  ASSERT_EQ(results.size(), mailboxes.size());
  for (std::size_t i : {0u, 3u, 4u}) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].error().message;
    EXPECT_EQ(results[i]->objects, got[i].size());
    const auto one =
        collect([&](const ObjectSink& s) { return gateway_->deviceStatistics(mailboxes[i], s); });
    ASSERT_EQ(got[i].size(), one.size()) << i;
    for (std::size_t j = 0; j < one.size(); ++j) {
      EXPECT_EQ(text(got[i][j], "DeviceID"), text(one[j], "DeviceID")) << i;
    }
  }
  EXPECT_EQ(got[0].size(), 2u);
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, GatewayErrc::kNotFound);
  ASSERT_FALSE(results[2].ok()) << "an empty mailbox would read every mailbox's statistics";
  EXPECT_EQ(results[2].error().code, GatewayErrc::kInvalidArgument);
  EXPECT_TRUE(got[1].empty() && got[2].empty());
}

TEST_P(GatewayContract, BlockingAndAllowingEditOneListAndTheDeviceStateFollows) {
  ASSERT_TRUE(gateway_->addBlocked(kTony, {"APPL1"}).ok());
  EXPECT_EQ(blockedOf(kTony), std::vector<std::string>{"APPL1"});
  EXPECT_EQ(text(devicesOf(kTony)[0], "DeviceAccessState"), "Blocked");
  EXPECT_TRUE(blockedOf(kLila).empty()) << "other mailboxes are untouched";

  ASSERT_TRUE(gateway_->addBlocked(kTony, {"ANDROIDC22"}).ok());
  EXPECT_EQ(blockedOf(kTony), (std::vector<std::string>{"APPL1", "ANDROIDC22"}))
      << "adding keeps what was there";
  ASSERT_TRUE(gateway_->removeBlocked(kTony, {"APPL1"}).ok());
  EXPECT_EQ(blockedOf(kTony), std::vector<std::string>{"ANDROIDC22"});

  ASSERT_TRUE(gateway_->addAllowed(kTony, {"ANDROIDC22"}).ok());
  EXPECT_TRUE(blockedOf(kTony).empty()) << "allowing an ID takes it off the blocked list";
  EXPECT_EQ(text(devicesOf(kTony)[1], "DeviceAccessState"), "Allowed");
  EXPECT_TRUE(gateway_->removeAllowed(kTony, {"ANDROIDC22"}).ok());
}

TEST_P(GatewayContract, WipesCancelsAndWipesAccountOnly) {
  ASSERT_TRUE(gateway_->wipe(kTonysIphone, WipeScope::kDevice).ok());
  EXPECT_EQ(statusOfFirstDevice(kTony), "DeviceWipePending");
  auto cancelled = gateway_->cancelWipe(kTonysIphone);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_TRUE(cancelled->warnings.empty());
  EXPECT_EQ(statusOfFirstDevice(kTony), "DeviceOk");
  auto nothing = gateway_->cancelWipe(kTonysIphone);
  ASSERT_TRUE(nothing.ok());
  ASSERT_EQ(nothing->warnings.size(), 1u) << "Exchange warns that no wipe is pending";
  ASSERT_TRUE(gateway_->wipe(kTonysIphone, WipeScope::kAccountOnly).ok());
  EXPECT_EQ(statusOfFirstDevice(kTony), "AccountOnlyDeviceWipePending");
}

TEST_P(GatewayContract, RemovesAPartnershipOnce) {
  ASSERT_TRUE(gateway_->removePartnership(kTonysIphone).ok());
  EXPECT_EQ(devicesOf(kTony).size(), 1u);
  auto again = gateway_->removePartnership(kTonysIphone);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, GatewayErrc::kNotFound);
}

TEST_P(GatewayContract, RefusesBadInputAndReportsUnknownNames) {
  auto refused = [&](const GatewayResult& r) {
    return !r.ok() && r.error().code == GatewayErrc::kInvalidArgument;
  };
  EXPECT_TRUE(refused(gateway_->listDevices({}, std::string_view())))
      << "an empty mailbox would list every device";
  EXPECT_TRUE(refused(gateway_->addBlocked("", {"APPL1"})));
  EXPECT_TRUE(refused(gateway_->addBlocked(kTony, {})));
  EXPECT_TRUE(refused(gateway_->addBlocked(kTony, {""})));
  EXPECT_TRUE(refused(gateway_->wipe("", WipeScope::kDevice)));
  EXPECT_TRUE(refused(gateway_->removePartnership("a\nb")));
  EXPECT_TRUE(blockedOf(kTony).empty()) << "nothing refused reached Exchange";

  auto ghost = gateway_->addBlocked("ghost@contoso.com", {"X"});
  ASSERT_FALSE(ghost.ok());
  EXPECT_EQ(ghost.error().code, GatewayErrc::kNotFound);
  EXPECT_NE(ghost.error().message.find("ghost@contoso.com"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Implementations, GatewayContract,
                         ::testing::Values(SubjectFactory(overSimulatorBridges),
                                           SubjectFactory(inMemoryFake)),
                         [](const ::testing::TestParamInfo<SubjectFactory>& param) {
                           return param.index == 0 ? std::string("OverSimulatorBridges")
                                                   : std::string("InMemoryFake");
                         });

TEST(BridgeExchangeGateway, PassesThrottlingOnAsRetryable) {
  powershell::BridgePool pool(
      []() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        auto b = powershell::BridgeProcess::start(
            powershell::BridgeCommand{
                EASGATE_SIM_BINARY, {"--throttle-rate", "1", "--throttle-retry-ms", "700"}, {}},
            {});
        if (!b) return b.error();
        return std::unique_ptr<powershell::Bridge>(std::move(b).value());
      },
      1);
  BridgeExchangeGateway gateway(pool);
  auto r = gateway.casMailboxes({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, GatewayErrc::kThrottled);
  EXPECT_EQ(r.error().retry_after_ms, 700);
  EXPECT_TRUE(r.error().retryable());
}

TEST(FakeExchangeGateway, FailsOnDemandAndLogsWhatWasAsked) {
  testing::FakeExchangeGateway fake(smallOrganisation());
  fake.failNext({GatewayErrc::kSessionLimit, "too many shells", "", 0});
  auto failed = fake.addBlocked(kTony, {"APPL1"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, GatewayErrc::kSessionLimit);
  EXPECT_FALSE(fake.organisation().findMailbox(kTony)->facts.blocked_device_ids.size())
      << "a failed call changes nothing";
  ASSERT_TRUE(fake.addBlocked(kTony, {"APPL1"}).ok());
  ASSERT_EQ(fake.requests().size(), 2u);
  EXPECT_EQ(fake.requests()[1].cmdlet, "Set-CASMailbox");
  ASSERT_NE(fake.requests()[1].parameter("ActiveSyncBlockedDeviceIDs"), nullptr);
  EXPECT_EQ(
      std::get<powershell::ListEdit>(*fake.requests()[1].parameter("ActiveSyncBlockedDeviceIDs")),
      (powershell::ListEdit{{"APPL1"}, {}}));
}

}  // namespace
}  // namespace easgate::agent
