// The command journal and executor: a real store file, the in-memory gateway fake, and a
// clock the test moves (no sleeps).
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/commands/command_executor.h"
#include "agent/store/schema.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;

constexpr std::int64_t kDay = 86'400'000;
const std::string kTony = "tony.smith@contoso.com";
const std::string kLila = "lila.okafor@contoso.com";
const std::string kTonysIphone =
    "contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/iPhone\xC2\xA7"
    "APPL1";

sim::Organisation organisation() {
  sim::Organisation org;
  auto mailbox = [&](std::string name, std::string smtp) {
    sim::MailboxFacts m;
    m.identity = "contoso.com/Users/" + name;
    m.name = std::move(name);
    m.primary_smtp_address = std::move(smtp);
    return &org.addMailbox(std::move(m));
  };
  sim::SimMailbox* tony = mailbox("Tony Smith", kTony);
  sim::PartnershipFacts phone;
  phone.device_id = "APPL1";
  phone.device_type = "iPhone";
  phone.guid = "00000000-0000-4000-8000-000000000001";
  org.addDevice(*tony, phone);
  mailbox("Lila Okafor", kLila);
  return org;
}

CommandRequest command(CommandKind kind, std::string mailbox, std::string device_id = "") {
  CommandRequest r;
  r.kind = kind;
  r.mailbox = std::move(mailbox);
  r.device_id = std::move(device_id);
  r.requested_by = "CN=mdm.contoso.com";
  return r;
}

CommandRequest wipeOf(std::string partnership) {
  CommandRequest r;
  r.kind = CommandKind::kWipe;
  r.partnership = std::move(partnership);
  r.requested_by = "CN=mdm.contoso.com";
  return normalizeCommand(r).value();
}

class Commands : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = testing::scratchPath("commands", ".db");
    removeStore();
    open();
  }
  void TearDown() override {
    close();
    removeStore();
  }
  void removeStore() {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file_.string() + suffix);
  }
  void open() {
    auto db = store::openStore(file_);
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    ExecutorOptions options;
    options.parallelism = 4;
    options.first_retry_ms = 1'000;
    options.max_retry_ms = 60'000;
    options.jitter_seed = 42;
    executor_ = std::make_unique<CommandExecutor>(*journal_, gateway_, clock_, options);
  }
  // What a restart does: everything in memory goes, the file stays.
  void close() {
    executor_.reset();
    journal_.reset();
    audit_.reset();
    db_.reset();
  }

  std::int64_t submit(const CommandRequest& r, std::int64_t deadline_in = 7 * kDay) {
    auto s = journal_->submit(r, clock_.nowMs() + deadline_in);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? s->command.id : 0;
  }
  CommandRecord get(std::int64_t id) { return journal_->get(id).value(); }
  std::size_t runDue() {
    auto ran = executor_->runDue();
    EXPECT_TRUE(ran.ok()) << ran.error().message;
    return ran.ok() ? ran.value() : 0;
  }
  std::size_t requestsOf(const std::string& cmdlet) {
    std::size_t n = 0;
    for (const auto& r : gateway_.requests()) n += r.cmdlet == cmdlet ? 1 : 0;
    return n;
  }
  std::vector<std::string>& blockedOf(const std::string& smtp) {
    return gateway_.organisation().findMailbox(smtp)->facts.blocked_device_ids;
  }

  testing::ManualClock clock_{SystemClock().nowMs()};
  testing::FakeExchangeGateway gateway_{organisation()};
  fs::path file_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<CommandExecutor> executor_;
};

TEST(NormalizeCommand, DerivesTheMailboxOfPartnershipCommandsAndRefusesNonsense) {
  EXPECT_EQ(wipeOf(kTonysIphone).mailbox, "contoso.com/Users/Tony Smith");
  auto bad = [](CommandRequest r) { return !normalizeCommand(std::move(r)).ok(); };
  EXPECT_TRUE(bad(command(CommandKind::kBlock, kTony))) << "no device ID";
  EXPECT_TRUE(bad(command(CommandKind::kBlock, "", "APPL1")));
  EXPECT_TRUE(bad(command(CommandKind::kBlock, kTony, "A\nB")));
  CommandRequest wipe_without_partnership = command(CommandKind::kWipe, kTony);
  EXPECT_TRUE(bad(wipe_without_partnership));
  CommandRequest not_a_partnership;
  not_a_partnership.kind = CommandKind::kRemovePartnership;
  not_a_partnership.partnership = "tony.smith@contoso.com";
  auto refused = normalizeCommand(not_a_partnership);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not a partnership Identity"), std::string::npos);
  CommandRequest set = command(CommandKind::kSetAllowed, kTony);
  EXPECT_TRUE(normalizeCommand(set).ok()) << "an empty desired list clears the list";
  set.device_ids = {"A", ""};
  EXPECT_TRUE(bad(set));
}

TEST_F(Commands, ACommandIsJournaledAndAuditedBeforeSubmitReturns) {
  std::int64_t id = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  close();  // as if the agent died right after acknowledging
  open();
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kQueued);
  EXPECT_EQ(c.request.device_id, "APPL1");
  auto verified = audit_->verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->entries, 1);
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  EXPECT_EQ(blockedOf(kTony), std::vector<std::string>{"APPL1"});
  EXPECT_EQ(audit_->verify()->entries, 2) << "accepted, then succeeded";
}

TEST_F(Commands, AnIdempotencyKeyReturnsTheFirstCommand) {
  CommandRequest r = command(CommandKind::kBlock, kTony, "APPL1");
  r.idempotency_key = "mdm-7f3a";
  auto first = journal_->submit(r, clock_.nowMs() + kDay);
  ASSERT_TRUE(first.ok());
  r.requested_by = "CN=other-mdm-node";  // a repeat from another node of the MDM
  auto again = journal_->submit(r, clock_.nowMs() + kDay);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->repeated);
  EXPECT_EQ(again->command.id, first->command.id);
  EXPECT_EQ(journal_->unfinished()->size(), 1u);
  r.device_id = "OTHER";
  auto conflict = journal_->submit(r, clock_.nowMs() + kDay);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, CommandErrc::kConflict);
}

TEST_F(Commands, RunInOrderPerMailboxAndInParallelAcrossMailboxes) {
  std::int64_t block = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  std::int64_t unblock = submit(command(CommandKind::kUnblock, kTony, "APPL1"));
  std::int64_t lila = submit(command(CommandKind::kBlock, kLila, "X9"));
  EXPECT_EQ(runDue(), 2u) << "Tony's first command and Lila's";
  EXPECT_EQ(get(block).state, CommandState::kSucceeded);
  EXPECT_EQ(get(unblock).state, CommandState::kQueued) << "waits for the one before";
  EXPECT_EQ(get(lila).state, CommandState::kSucceeded);
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(unblock).state, CommandState::kSucceeded);
  EXPECT_TRUE(blockedOf(kTony).empty()) << "block then unblock, in that order";
  EXPECT_EQ(runDue(), 0u);
}

TEST_F(Commands, ThrottlingIsRetriedNoSoonerThanExchangeAsks) {
  gateway_.failNext({GatewayErrc::kThrottled, "user load quota exceeded", "", 30'000});
  std::int64_t id = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  runDue();
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kRetrying);
  EXPECT_EQ(c.last_error, "user load quota exceeded");
  EXPECT_GE(c.next_attempt_ms, clock_.nowMs() + 30'000);
  EXPECT_EQ(runDue(), 0u) << "not due yet";
  clock_.set(c.next_attempt_ms);
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  EXPECT_EQ(get(id).attempts, 2);
}

TEST_F(Commands, BackoffDoublesWithJitterUpToItsCap) {
  std::int64_t id = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  std::int64_t base = 1'000;
  for (int attempt = 1; attempt <= 9; ++attempt) {
    gateway_.failNext({GatewayErrc::kSessionLimit, "too many shells", "", 0});
    const std::int64_t now = clock_.nowMs();
    ASSERT_EQ(runDue(), 1u);
    const std::int64_t delay = get(id).next_attempt_ms - now;
    const std::int64_t full = std::min<std::int64_t>(base << (attempt - 1), 60'000);
    EXPECT_GE(delay, full / 2) << "attempt " << attempt;
    EXPECT_LE(delay, full) << "attempt " << attempt;
    clock_.set(get(id).next_attempt_ms);
  }
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
}

TEST_F(Commands, RetryingStopsAtTheDeadline) {
  std::int64_t id = submit(command(CommandKind::kBlock, kTony, "APPL1"), 10'000);
  for (int i = 0; i < 20 && !isFinal(get(id).state); ++i) {
    gateway_.failNext({GatewayErrc::kBridgeFailed, "the bridge crashed", "", 0});
    runDue();
    clock_.set(std::max(clock_.nowMs(), get(id).next_attempt_ms));
  }
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kFailed);
  EXPECT_NE(c.last_error.find("gave up at the deadline"), std::string::npos) << c.last_error;
  EXPECT_NE(c.last_error.find("the bridge crashed"), std::string::npos);
  EXPECT_TRUE(blockedOf(kTony).empty());
}

TEST_F(Commands, PermanentErrorsFailAtOnceWithExchangesMessage) {
  std::int64_t id = submit(command(CommandKind::kBlock, "ghost@contoso.com", "APPL1"));
  runDue();
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kFailed);
  EXPECT_EQ(c.attempts, 1);
  EXPECT_NE(c.last_error.find("couldn't be found"), std::string::npos) << c.last_error;
}

TEST_F(Commands, SetAllowedSendsOnlyTheDifference) {
  gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids = {"A", "B"};
  CommandRequest set = command(CommandKind::kSetAllowed, kTony);
  set.device_ids = {"b", "C"};
  std::int64_t id = submit(set);
  runDue();
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  const auto& last = gateway_.requests().back();
  ASSERT_EQ(last.cmdlet, "Set-CASMailbox");
  EXPECT_EQ(std::get<powershell::ListEdit>(*last.parameter("ActiveSyncAllowedDeviceIDs")),
            (powershell::ListEdit{{"C"}, {"A"}}))
      << "device IDs compare without case";
  const std::size_t edits = requestsOf("Set-CASMailbox");
  std::int64_t again = submit(set);
  runDue();
  EXPECT_EQ(get(again).result, "the list was already so");
  EXPECT_EQ(requestsOf("Set-CASMailbox"), edits) << "nothing to send";
}

TEST_F(Commands, AWipeThatReachedExchangeBeforeACrashIsNotSentAgain) {
  std::int64_t id = submit(wipeOf(kTonysIphone));
  // The agent marked it running, Exchange took the wipe, and the agent died before it heard.
  ASSERT_TRUE(journal_->markRunning(id).ok());
  auto device = gateway_.organisation().findDevice(kTonysIphone);
  ASSERT_TRUE(device);
  gateway_.organisation().wipe(*device, false, false, powershell::sim::nowDotNetTicks());
  close();
  open();
  EXPECT_EQ(runDue(), 1u);
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kSucceeded);
  EXPECT_NE(c.result.find("already holds"), std::string::npos) << c.result;
  EXPECT_EQ(requestsOf("Clear-MobileDevice"), 0u);
}

TEST_F(Commands, AWipeThatDidNotReachExchangeIsSentOnceAfterACrash) {
  std::int64_t id = submit(wipeOf(kTonysIphone));
  ASSERT_TRUE(journal_->markRunning(id).ok());  // died before sending
  close();
  open();
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  EXPECT_EQ(requestsOf("Clear-MobileDevice"), 1u);
  EXPECT_EQ(gateway_.organisation().findDevice(kTonysIphone)->device->wipe_status,
            "DeviceWipePending");
}

TEST_F(Commands, ARemovalRetriedAfterItReachedExchangeSucceeds) {
  CommandRequest remove = wipeOf(kTonysIphone);
  remove.kind = CommandKind::kRemovePartnership;
  std::int64_t id = submit(remove);
  ASSERT_TRUE(journal_->markRunning(id).ok());
  gateway_.organisation().removeDevice(*gateway_.organisation().findDevice(kTonysIphone));
  ASSERT_TRUE(journal_->markRetrying(id, "timed out", clock_.nowMs()).ok());
  runDue();
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
}

}  // namespace
}  // namespace easgate::agent
