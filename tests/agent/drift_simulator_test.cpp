// List drift found and corrected against easgate-exchange-sim processes (the real bridge
// protocol), not the in-memory fake: the MDM allowed a device, Exchange's list disagrees,
// the harvest reports it and queues the correction, and the next harvest finds none.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/commands/command_executor.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "powershell/sim/organisation.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;

TEST(DriftAgainstTheSimulator, IsReportedCorrectedAndThenGone) {
  const fs::path dir = testing::scratchPath("drift");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto org =
      sim::Organisation::generate({9, 10, 20, sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  const std::string org_file = (dir / "org.json").string();
  std::ofstream(org_file) << org.toJson();
  {
    powershell::BridgePool pool(
        [&]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
          auto b = powershell::BridgeProcess::start(
              {EASGATE_SIM_BINARY, {"--org", org_file, "--save", org_file}, {}}, {});
          if (!b) return b.error();
          return std::unique_ptr<powershell::Bridge>(std::move(b).value());
        },
        1);
    BridgeExchangeGateway gateway(pool);
    auto db = store::openStore(store::storeFile(dir));
    ASSERT_TRUE(db.ok());
    // The agent's time, moved by hand: the harvest starts after the command finished.
    testing::ManualClock clock(SystemClock().nowMs());
    AuditLog audit(*db.value());
    CommandJournal journal(*db.value(), audit, clock);
    HarvestOptions options;
    options.correct_drift = true;
    auto inventory = InventoryStore::open(inventoryFile(store::storeFile(dir)));
    ASSERT_TRUE(inventory.ok());
    auto harvest_directory = openDirectory(directoryFile(store::storeFile(dir)));
    ASSERT_TRUE(harvest_directory.ok());
    Harvester harvester(*harvest_directory.value(), *db.value(), *inventory.value(), gateway,
                        &journal, clock, options);
    auto directory_db = store::openStore(store::storeFile(dir));
    ASSERT_TRUE(directory_db.ok());
    auto directory_file = openDirectory(directoryFile(store::storeFile(dir)));
    ASSERT_TRUE(directory_file.ok());
    MailboxDirectory directory(*directory_file.value(), *directory_db.value());
    CommandExecutor executor(journal, gateway, directory, clock);

    // The MDM allows a device, and the agent puts it on the list.
    const auto& mailbox = org.mailboxes()[0];
    CommandRequest allow;
    allow.kind = CommandKind::kAllow;
    allow.mailbox = mailbox.facts.primarySmtpAddress();
    allow.device_id = mailbox.devices[0].device_id;
    allow.requested_by = "CN=mdm";
    ASSERT_TRUE(journal.submit(allow, clock.nowMs() + 3600'000).ok());
    ASSERT_TRUE(executor.runDue().ok());
    ASSERT_TRUE(journal.unfinished().value().empty());
    clock.advance(1000);
    // Then an administrator takes it off in Exchange, behind the agent's back.
    ASSERT_TRUE(gateway.removeAllowed(mailbox.facts.identity, {allow.device_id}).ok());

    auto first = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->drifted, 1u);
    EXPECT_EQ(first->corrections, 1u);
    for (int round = 0; round < 5 && !journal.unfinished().value().empty(); ++round) {
      ASSERT_TRUE(executor.runDue().ok());
    }
    EXPECT_TRUE(journal.unfinished().value().empty());

    auto second = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->drifted, 0u) << "Exchange now holds what the MDM set";
  }
  std::string json;
  {
    // Closed before the folder is removed: Windows removes no file that is open.
    std::ifstream in(org_file);
    json.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto after = sim::Organisation::fromJson(json);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->mailboxes()[0].facts.allowed_device_ids,
            std::vector<std::string>{org.mailboxes()[0].devices[0].device_id});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace easgate::agent
