// The command journal and executor: a real store file, the in-memory gateway fake, and a
// clock the test moves (no sleeps).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>

#include <filesystem>

#include "agent/commands/command_executor.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "tests/support/command_printers.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"
#include "tests/support/store_files.h"

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
    m.setPrimarySmtpAddress(std::move(smtp));
    return &org.addMailbox(std::move(m));
  };
  sim::SimMailbox* tony = mailbox("Tony Smith", kTony);
  sim::PartnershipFacts phone;
  phone.device_id = "APPL1";
  phone.device_type = "iPhone";
  phone.guid = sim::Guid("00000000-0000-4000-8000-000000000001");
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
  void removeStore() { testing::removeStoreFiles(file_); }
  void open() {
    auto db = store::openStore(file_);
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    auto directory_db = store::openStore(file_);
    ASSERT_TRUE(directory_db.ok()) << directory_db.error().message;
    directory_db_ = std::move(directory_db).value();
    auto directory_file = openDirectory(directoryFile(file_));
    ASSERT_TRUE(directory_file.ok()) << directory_file.error().message;
    directory_file_ = std::move(directory_file).value();
    directory_ = std::make_unique<MailboxDirectory>(*directory_file_, *directory_db_);
    makeExecutor();
  }
  void makeExecutor() {
    executor_ =
        std::make_unique<CommandExecutor>(*journal_, gateway_, *directory_, clock_, options_);
  }
  // What a restart does: everything in memory goes, the file stays.
  void close() {
    executor_.reset();
    directory_.reset();
    directory_file_.reset();
    directory_db_.reset();
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
  // The directory learns the organisation's mailboxes, as a harvest teaches it: commands then
  // run without a Get-CASMailbox to resolve their mailbox first.
  void knowMailboxes() {
    for (const auto& m : gateway_.organisation().mailboxes()) {
      auto e = mailboxEntryFromCasMailbox(*sim::casMailbox(m.facts).asObject());
      ASSERT_TRUE(e.has_value());
      ASSERT_TRUE(directory_->record(*e, clock_.nowMs(), /*lists=*/true).ok());
    }
  }
  // `n` more mailboxes, known to the directory, and an allow queued on each (as a policy apply
  // queues them): the allows' ids.
  std::vector<std::int64_t> allowOnNewMailboxes(int n) { return allowOnNewMailboxes(n, true); }
  // The same, the directory knowing them or not (an MDM naming mailboxes before the first
  // harvest: each name is asked of Exchange).
  std::vector<std::int64_t> allowOnNewMailboxes(int n, bool known) {
    gateway_.withOrganisation([n](sim::Organisation& org) {
      for (int i = 0; i < n; ++i) {
        sim::MailboxFacts m;
        m.name = "User " + std::to_string(i);
        m.identity = "contoso.com/Users/" + m.name;
        m.setPrimarySmtpAddress(userAddress(i));
        org.addMailbox(std::move(m));
      }
    });
    if (known) knowMailboxes();
    std::vector<std::int64_t> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back(
          submit(command(CommandKind::kAllow, userAddress(i), "DEV" + std::to_string(i))));
    }
    return ids;
  }
  static std::string userAddress(int i) { return "user" + std::to_string(i) + "@contoso.com"; }
  // A Get-CASMailbox that asks Exchange who a name is (a read-back names the mailbox's key).
  static bool isLookUp(const powershell::BridgeRequest& r) {
    if (r.cmdlet != "Get-CASMailbox") return false;
    const auto* identity = r.parameter("Identity");
    const auto* name = identity ? std::get_if<std::string>(identity) : nullptr;
    return name && name->find('@') != std::string::npos;
  }
  std::string knownKey(const std::string& name) { return directory_->lookup(name).key; }
  std::size_t lookUps() {
    return std::count_if(gateway_.requests().begin(), gateway_.requests().end(), isLookUp);
  }
  // How many list edits Exchange was sent before the first wipe.
  std::size_t editsBeforeTheWipe() {
    std::size_t edits = 0;
    for (const auto& r : gateway_.requests()) {
      if (r.cmdlet == "Clear-MobileDevice") break;
      if (r.cmdlet == "Set-CASMailbox") ++edits;
    }
    return edits;
  }
  const powershell::BridgeRequest& lastRequestOf(const std::string& cmdlet) {
    for (auto it = gateway_.requests().rbegin(); it != gateway_.requests().rend(); ++it) {
      if (it->cmdlet == cmdlet) return *it;
    }
    static const powershell::BridgeRequest kNone{"none", {}};
    return kNone;
  }
  std::vector<std::string>& blockedOf(const std::string& smtp) {
    return gateway_.organisation().findMailbox(smtp)->facts.blocked_device_ids;
  }

  static ExecutorOptions executorOptions() {
    ExecutorOptions options;
    options.parallelism = 4;
    options.first_retry_ms = 1'000;
    options.max_retry_ms = 60'000;
    options.jitter_seed = 42;
    return options;
  }

  ExecutorOptions options_ = executorOptions();
  testing::ManualClock clock_{SystemClock().nowMs()};
  testing::FakeExchangeGateway gateway_{organisation()};
  fs::path file_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<store::Database> directory_db_, directory_file_;
  std::unique_ptr<MailboxDirectory> directory_;
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
  EXPECT_NE(refused.error().message.find("<mailbox>/ExchangeActiveSyncDevices/<device>"),
            std::string::npos)
      << refused.error().message;
  CommandRequest set = command(CommandKind::kSetAllowed, kTony);
  EXPECT_TRUE(normalizeCommand(set).ok()) << "an empty desired list clears the list";
  set.device_ids = {"A", ""};
  EXPECT_TRUE(bad(set));
  // The wire's limits, whoever builds the request: an ActiveSync device ID is 1 to 32 letters
  // and digits.
  set.device_ids = {std::string(33, 'A')};
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
  auto again = journal_->submit(r, clock_.nowMs() + kDay);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->repeated);
  EXPECT_EQ(again->command.id, first->command.id);
  EXPECT_EQ(again->command.request.idempotency_key, "mdm-7f3a");
  EXPECT_EQ(journal_->unfinished()->size(), 1u);
  // Keys are each client's own: another client's same key is another command.
  CommandRequest other = r;
  other.requested_by = "CN=someone-else";
  auto theirs = journal_->submit(other, clock_.nowMs() + kDay);
  ASSERT_TRUE(theirs.ok());
  EXPECT_FALSE(theirs->repeated);
  EXPECT_NE(theirs->command.id, first->command.id);
  r.device_id = "OTHER";
  auto conflict = journal_->submit(r, clock_.nowMs() + kDay);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, CommandErrc::kConflict);
}

TEST_F(Commands, RunInOrderPerMailboxAndInParallelAcrossMailboxes) {
  std::int64_t block = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  std::int64_t unblock = submit(command(CommandKind::kUnblock, kTony, "APPL1"));
  std::int64_t lila = submit(command(CommandKind::kBlock, kLila, "X9"));
  // Tony's two edits go in one call, the last deciding; Lila's beside them.
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(get(block).state, CommandState::kSucceeded);
  EXPECT_EQ(get(unblock).state, CommandState::kSucceeded);
  EXPECT_EQ(get(lila).state, CommandState::kSucceeded);
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 2u) << "one call a mailbox";
  EXPECT_TRUE(blockedOf(kTony).empty()) << "block then unblock, in that order";
  EXPECT_EQ(blockedOf(kLila), std::vector<std::string>{"X9"});
  EXPECT_EQ(runDue(), 0u);
  // The other way round it ends blocked: the order, not the set of edits, decides.
  submit(command(CommandKind::kUnblock, kTony, "APPL1"));
  submit(command(CommandKind::kBlock, kTony, "APPL1"));
  EXPECT_EQ(runDue(), 2u);
  EXPECT_EQ(blockedOf(kTony), std::vector<std::string>{"APPL1"});
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 3u);
}

TEST_F(Commands, ACallRefusedForGoodIsTriedAgainOneEditACallSoOnlyTheRefusedEditFails) {
  knowMailboxes();
  gateway_.refuseDeviceId("BAD1",
                          {GatewayErrc::kInvalidArgument, "The device ID is not valid", "", 0});
  const std::int64_t first = submit(command(CommandKind::kAllow, kTony, "GOOD1"));
  const std::int64_t refused = submit(command(CommandKind::kAllow, kTony, "BAD1"));
  const std::int64_t last = submit(command(CommandKind::kAllow, kTony, "GOOD2"));
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(get(first).state, CommandState::kSucceeded);
  EXPECT_EQ(get(refused).state, CommandState::kFailed);
  EXPECT_NE(get(refused).last_error.find("The device ID is not valid"), std::string::npos);
  EXPECT_EQ(get(last).state, CommandState::kSucceeded);
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 1u + 3u) << "together, then each alone";
  EXPECT_EQ(gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids,
            (std::vector<std::string>{"GOOD1", "GOOD2"}));
}

TEST_F(Commands, AThrottledCallIsRetriedWithEveryEditItCarried) {
  knowMailboxes();
  gateway_.failNext({GatewayErrc::kThrottled, "user load quota exceeded", "", 30'000});
  const std::int64_t first = submit(command(CommandKind::kAllow, kTony, "A1"));
  const std::int64_t second = submit(command(CommandKind::kRevoke, kTony, "A1"));
  EXPECT_EQ(runDue(), 2u);
  EXPECT_EQ(get(first).state, CommandState::kRetrying);
  EXPECT_EQ(get(second).state, CommandState::kRetrying);
  clock_.set(std::max(get(first).next_attempt_ms, get(second).next_attempt_ms));
  EXPECT_EQ(runDue(), 2u);
  EXPECT_EQ(get(first).state, CommandState::kSucceeded);
  EXPECT_EQ(get(second).state, CommandState::kSucceeded);
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 2u) << "the throttled call, then both again in one";
  EXPECT_TRUE(gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids.empty());
}

TEST_F(Commands, ThrottlingIsRetriedNoSoonerThanExchangeAsks) {
  knowMailboxes();
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
  knowMailboxes();
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
  EXPECT_EQ(c.attempts, 0) << "it never ran: its mailbox does not exist";
  EXPECT_NE(c.last_error.find("Exchange has no mailbox 'ghost@contoso.com'"), std::string::npos)
      << c.last_error;
  EXPECT_NE(c.last_error.find("couldn't be found"), std::string::npos) << c.last_error;
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 0u);
}

// A partnership Exchange does not know (one removed since the last harvest, or mistyped) is said
// so, as a mailbox it does not know is: the administrator reads which name was wrong.
TEST_F(Commands, APartnershipExchangeDoesNotKnowIsNamedInTheError) {
  const std::string ghost =
      "contoso.com/Users/Tony Smith/ExchangeActiveSyncDevices/Ghost\xC2\xA7GHOST1";
  for (CommandKind kind :
       {CommandKind::kWipe, CommandKind::kCancelWipe, CommandKind::kRemovePartnership}) {
    CommandRequest r = wipeOf(ghost);
    r.kind = kind;
    std::int64_t id = submit(r);
    runDue();
    CommandRecord c = get(id);
    EXPECT_EQ(c.state, CommandState::kFailed) << commandKindName(kind);
    EXPECT_NE(c.last_error.find("Exchange has no partnership '" + ghost + "'"), std::string::npos)
        << commandKindName(kind) << ": " << c.last_error;
    EXPECT_NE(c.last_error.find("couldn't be found"), std::string::npos)
        << "Exchange's own words follow: " << c.last_error;
  }
}

TEST_F(Commands, SetAllowedSendsOnlyTheDifference) {
  gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids = {"A", "B"};
  CommandRequest set = command(CommandKind::kSetAllowed, kTony);
  set.device_ids = {"b", "C"};
  std::int64_t id = submit(set);
  runDue();
  EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  const auto& last = lastRequestOf("Set-CASMailbox");
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

TEST_F(Commands, AWipeGoesBeforeTheAllowsDueWithItAndARunEndsWhereItIsTold) {
  // Twelve more mailboxes, an allow queued on each (a policy apply's, say), then a wipe.
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(12);
  const std::int64_t wipe = submit(wipeOf(kTonysIphone));
  auto queued = [&] {
    return std::count_if(allows.begin(), allows.end(),
                         [&](std::int64_t id) { return get(id).state == CommandState::kQueued; });
  };

  // Told to end at once, the run still gives each of its four workers one command: the wipe
  // first, though it came last.
  std::atomic<std::size_t> asked{0};  // asked from the run's workers, at once
  auto ran = executor_->runDue([&] {
    ++asked;
    return false;
  });
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  EXPECT_EQ(ran.value(), 4u);
  EXPECT_GE(asked.load(), 1u);
  EXPECT_EQ(get(wipe).state, CommandState::kSucceeded);
  EXPECT_EQ(requestsOf("Clear-MobileDevice"), 1u);
  EXPECT_EQ(queued(), 9) << "three allows ran beside the wipe; the rest wait for the next run";

  EXPECT_EQ(runDue(), 9u);
  EXPECT_EQ(queued(), 0);
}

TEST_F(Commands, AWipeQueuedBehindAnAllowOfItsMailboxGoesBeforeTheOtherMailboxes) {
  options_.parallelism = 1;  // Exchange sees them in the order the run takes them
  makeExecutor();
  const std::vector<std::int64_t> others = allowOnNewMailboxes(8);
  // Tony's mailbox: an allow (a policy apply's), then his phone's wipe.
  const std::int64_t tonys_allow = submit(command(CommandKind::kAllow, kTony, "NEW1"));
  const std::int64_t wipe = submit(wipeOf(kTonysIphone));

  // The first run takes Tony's allow, first and alone: his wipe waits only for it.
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(tonys_allow).state, CommandState::kSucceeded);
  EXPECT_EQ(get(wipe).state, CommandState::kQueued);
  for (std::int64_t id : others) EXPECT_EQ(get(id).state, CommandState::kQueued);
  // The next, the wipe first, then the others.
  EXPECT_EQ(runDue(), 9u);
  EXPECT_EQ(get(wipe).state, CommandState::kSucceeded);
  EXPECT_EQ(editsBeforeTheWipe(), 1u) << "only Tony's allow";
}

TEST_F(Commands, ARunTakesAtMostItsShareOldestFirstAndTheUrgentOnesBesideIt) {
  options_.commands_per_run = 5;
  makeExecutor();
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(12);
  const std::int64_t wipe = submit(wipeOf(kTonysIphone));
  auto succeeded = [&] {
    std::vector<std::int64_t> done;
    for (std::int64_t id : allows) {
      if (get(id).state == CommandState::kSucceeded) done.push_back(id);
    }
    return done;
  };

  // The wipe, as urgent, beside the run's five; those five the oldest.
  EXPECT_EQ(runDue(), 6u);
  EXPECT_EQ(get(wipe).state, CommandState::kSucceeded);
  EXPECT_EQ(succeeded(), std::vector<std::int64_t>(allows.begin(), allows.begin() + 5));
  EXPECT_EQ(runDue(), 5u);
  EXPECT_EQ(succeeded(), std::vector<std::int64_t>(allows.begin(), allows.begin() + 10));
  EXPECT_EQ(runDue(), 2u);
  EXPECT_EQ(succeeded(), allows);
  EXPECT_EQ(runDue(), 0u);
}

TEST_F(Commands, TheFirstCommandsRunWhileTheMailboxesOfTheRestAreResolvedRunAfterRun) {
  options_.resolved_per_run = 3;
  options_.parallelism = 1;  // in the order chosen
  makeExecutor();
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(8);
  const std::int64_t wipe = submit(wipeOf(kTonysIphone));
  auto resolved = [&] {
    return std::count_if(allows.begin(), allows.end(),
                         [&](std::int64_t id) { return !get(id).mailbox_key.empty(); });
  };
  // Three resolved a run, and those three run: what comes after them may be for their mailboxes.
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(resolved(), 3);
  EXPECT_EQ(get(allows[2]).state, CommandState::kSucceeded);
  EXPECT_EQ(get(allows[3]).state, CommandState::kQueued);
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(resolved(), 6);
  EXPECT_EQ(requestsOf("Clear-MobileDevice"), 0u) << "the wipe's mailbox is not known yet";
  // The last two allows and the wipe resolved: the wipe, urgent, first.
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(get(wipe).state, CommandState::kSucceeded);
  EXPECT_EQ(editsBeforeTheWipe(), 6u);
  for (std::int64_t id : allows) EXPECT_EQ(get(id).state, CommandState::kSucceeded);
  EXPECT_EQ(runDue(), 0u);
}

TEST_F(Commands, AMailboxsCommandsRunOneARunInOrderWhateverTheRunsShare) {
  options_.commands_per_run = 2;
  makeExecutor();
  knowMailboxes();
  // Tony's three edits come first in the journal: each run takes only his next one, and Lila's.
  const std::int64_t first = submit(command(CommandKind::kAllow, kTony, "T1"));
  CommandRequest set = command(CommandKind::kSetAllowed, kTony);
  set.device_ids = {"T2"};
  const std::int64_t second = submit(set);
  const std::int64_t third = submit(command(CommandKind::kAllow, kTony, "T3"));
  const std::int64_t lilas = submit(command(CommandKind::kAllow, kLila, "L1"));
  EXPECT_EQ(runDue(), 2u);
  EXPECT_EQ(get(first).state, CommandState::kSucceeded);
  EXPECT_EQ(get(second).state, CommandState::kQueued);
  EXPECT_EQ(get(lilas).state, CommandState::kSucceeded) << "beside Tony's first, not after all";
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(second).state, CommandState::kSucceeded);
  EXPECT_EQ(get(third).state, CommandState::kQueued);
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(third).state, CommandState::kSucceeded);
  EXPECT_EQ(gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids,
            (std::vector<std::string>{"T2", "T3"}))
      << "allow, replace the list, allow: in that order";
}

TEST_F(Commands, TheQuestionsAskedRunAfterRunReadTheUnfinishedCommandsNeverTheWholeJournal) {
  auto plan = journal_->queryPlans();
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::istringstream lines(plan.value());
  std::size_t steps = 0;
  bool walks_heads = false;  // the question being read walks the mailboxes' heads
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) walks_heads = false;
    // The heads are walked in the order of the journal, a run's share at a time: never all
    // found first and sorted.
    if (line.starts_with("SEARCH c USING INDEX commands_open (")) walks_heads = true;
    if (walks_heads) {
      EXPECT_EQ(line.find("TEMP B-TREE"), std::string::npos) << plan.value();
    }
    ++steps;
    // A scan of the commands (aliased or not) that is not of an index of unfinished ones reads
    // every command ever journaled; a temporary b-tree sorts all that were found.
    const bool scans = line.starts_with("SCAN commands") || line.starts_with("SCAN c") ||
                       line.starts_with("SCAN e") || line.starts_with("SCAN d");
    if (scans) {
      EXPECT_NE(line.find("INDEX commands_open"), std::string::npos) << plan.value();
    }
  }
  EXPECT_GE(steps, 8u) << plan.value();
}

TEST_F(Commands, AHarvestKnowsTheListCommandsOpenWhenItBeganAndThoseFinishedSince) {
  // Drift correction must not take a list for drifting while a command on it is queued, or
  // when one ran while the harvest read (Exchange's lists may have been read before it).
  knowMailboxes();
  const std::string tony = knownKey(kTony), lila = knownKey(kLila);
  submit(command(CommandKind::kAllow, kLila, "L1"));
  EXPECT_EQ(runDue(), 1u);
  clock_.advance(1'000);
  const std::int64_t queued = submit(command(CommandKind::kAllow, kTony, "T1"));
  const std::int64_t from = journal_->openFrom().value();
  EXPECT_EQ(from, queued) << "the oldest command not final";
  const std::int64_t began = clock_.nowMs();
  auto seen = journal_->listCommandsSince(from, began).value();
  EXPECT_TRUE(seen.unresolved) << "Tony's allow does not know its mailbox yet";
  EXPECT_EQ(seen.mailbox_keys, std::set<std::string>{}) << "Lila's finished before";
  clock_.advance(1'000);
  EXPECT_EQ(runDue(), 1u);  // while the harvest reads
  seen = journal_->listCommandsSince(from, began).value();
  EXPECT_FALSE(seen.unresolved);
  EXPECT_EQ(seen.mailbox_keys, std::set<std::string>{tony}) << "finished since it began";
  // Nothing open: the next command to come is where the next harvest's view begins.
  const std::int64_t next_from = journal_->openFrom().value();
  EXPECT_EQ(next_from, queued + 1);
  const std::int64_t next_began = clock_.nowMs();
  EXPECT_TRUE(journal_->listCommandsSince(next_from, next_began).value().mailbox_keys.empty());
  submit(command(CommandKind::kBlock, kLila, "L2"));
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(journal_->listCommandsSince(next_from, next_began).value().mailbox_keys,
            std::set<std::string>{lila});
  // A wipe touches no list.
  submit(wipeOf(kTonysIphone));
  EXPECT_EQ(journal_->listCommandsSince(next_from, next_began).value().mailbox_keys,
            std::set<std::string>{lila});
}

TEST_F(Commands, AnOrganisationCommandWaitsForTheCommandsOfItsSequenceBeforeItByTheirRange) {
  // A policy apply: allows, the default after them, then (as a rollback's revokes are) a
  // mailbox's command after the default. However many allows, what the default waits for is
  // said in two ids, in the journal, its audit entry and its record.
  knowMailboxes();
  gateway_.refuseDeviceId("KEEP7",
                          {GatewayErrc::kInvalidArgument, "The device ID is not valid", "", 0});
  std::vector<CommandRequest> sequence;
  for (int i = 0; i < 300; ++i) {
    sequence.push_back(
        command(CommandKind::kAllow, i % 2 ? kLila : kTony, "KEEP" + std::to_string(i)));
  }
  CommandRequest level;
  level.kind = CommandKind::kSetDefaultAccessLevel;
  level.access_level = "Quarantine";
  level.requested_by = "CN=admin.contoso.com";
  sequence.push_back(level);
  sequence.push_back(command(CommandKind::kBlock, kLila, "LAST"));
  auto journaled = journal_->submitSequence(sequence, clock_.nowMs() + 7 * kDay);
  ASSERT_TRUE(journaled.ok()) << journaled.error().message;
  const auto& commands = journaled.value();
  ASSERT_EQ(commands.size(), 302u);
  const std::int64_t first = commands.front().id, last_allow = commands[299].id;
  const std::int64_t level_id = commands[300].id, block = commands[301].id;
  EXPECT_EQ(level_id, last_allow + 1);
  EXPECT_EQ(commands[300].request.after, (CommandRange{first, last_allow}));
  EXPECT_EQ(get(level_id).request.after, (CommandRange{first, last_allow})) << "as journaled";
  EXPECT_EQ(get(block).request.after, (CommandRange{level_id, level_id}));
  EXPECT_FALSE(get(first).request.after) << "the first waits for nothing";
  protocol::AuditQuery accepted;
  accepted.action = "set-default-access-level";
  auto entries = audit_->list(accepted);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_NE(
      entries->front().record.detail.find("\"after\":{\"firstCommandId\":" + std::to_string(first) +
                                          ",\"lastCommandId\":" + std::to_string(last_allow) + "}"),
      std::string::npos)
      << entries->front().record.detail;
  EXPECT_LT(entries->front().record.detail.size(), 200u) << "not every id";

  // The allows run (one refused); the default is never sent, and says how many of its 300
  // failed and which; the block after it fails unsent too.
  for (int run = 0; run < 10 && runDue() > 0; ++run) {
  }
  EXPECT_EQ(requestsOf("Set-ActiveSyncOrganizationSettings"), 0u);
  const CommandRecord d = get(level_id);
  EXPECT_EQ(d.state, CommandState::kFailed);
  EXPECT_NE(d.last_error.find("1 of the 300 commands it waits for did not succeed; the first, "
                              "command " +
                              std::to_string(first + 7) + " (allow " + kLila + " KEEP7) failed"),
            std::string::npos)
      << d.last_error;
  EXPECT_EQ(get(block).state, CommandState::kFailed) << get(block).last_error;
  EXPECT_EQ(get(first + 8).state, CommandState::kSucceeded);
}

TEST_F(Commands, ASequenceTakesNoIdempotencyKeyItsCommandsAreOneRunOfIds) {
  CommandRequest keyed = command(CommandKind::kAllow, kTony, "K1");
  keyed.idempotency_key = "apply-1";
  auto refused = journal_->submitSequence({command(CommandKind::kAllow, kLila, "L1"), keyed},
                                          clock_.nowMs() + kDay);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, CommandErrc::kInvalid);
  EXPECT_TRUE(journal_->unfinished()->empty()) << "none of it journaled";
}

TEST_F(Commands, TheNextDueIsTheEarliestUnfinishedCommandsTime) {
  EXPECT_EQ(executor_->nextDue().value(), std::nullopt) << "nothing queued";
  knowMailboxes();
  const std::int64_t throttled = submit(command(CommandKind::kAllow, kTony, "ID1"));
  EXPECT_EQ(executor_->nextDue().value(), clock_.nowMs());
  gateway_.failNext({GatewayErrc::kThrottled, "user load quota exceeded", "", 30'000});
  EXPECT_EQ(runDue(), 1u);
  const std::int64_t retry_at = get(throttled).next_attempt_ms;
  EXPECT_GE(retry_at, clock_.nowMs() + 30'000);
  EXPECT_EQ(executor_->nextDue().value(), retry_at) << "the retry, not the time it was queued";
  clock_.advance(10'000);
  const std::int64_t lila = submit(command(CommandKind::kBlock, kLila, "ID2"));
  EXPECT_EQ(executor_->nextDue().value(), clock_.nowMs()) << "Lila's block, due now";
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(lila).state, CommandState::kSucceeded);
  EXPECT_EQ(executor_->nextDue().value(), retry_at) << "a finished command is no longer due";
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

// --- One mailbox under many names (Exchange as it is) -------------------------------------

namespace mailbox_names {

const std::string kTonysIdentity = "contoso.com/Users/Tony Smith";

std::vector<std::string> allowedOf(sim::Organisation& org, const std::string& name) {
  return org.findMailbox(name)->facts.allowed_device_ids;
}

}  // namespace mailbox_names

TEST_F(Commands, AMailboxNamedTwoWaysIsOneMailboxForTheDesiredLists) {
  using namespace mailbox_names;
  submit(command(CommandKind::kAllow, kTony, "D1"));
  submit(command(CommandKind::kRevoke, kTony, "D2"));
  CommandRequest set = command(CommandKind::kSetAllowed, kTonysIdentity);
  set.device_ids = {"D2", "D3"};
  submit(set);
  while (runDue() > 0) {
  }
  EXPECT_EQ(allowedOf(gateway_.organisation(), kTony), (std::vector<std::string>{"D2", "D3"}));
  const auto key = directory_->lookup(kTony);
  ASSERT_EQ(key.kind, NameLookup::Kind::kFound);
  EXPECT_EQ(directory_->lookup(kTonysIdentity).key, key.key) << "both names, one key";
  EXPECT_EQ(directory_->lookup("TONY.SMITH@CONTOSO.COM").key, key.key);
  auto desired = directory_->list(key.key, "allowed", MailboxDirectory::Source::kDesired);
  ASSERT_TRUE(desired.ok());
  EXPECT_EQ(desired.value(), (std::vector<std::string>{"D2", "D3"}))
      << "one desired list, under the key, holding the MDM's latest decision";
  auto rows = db_->prepare("SELECT count(*) FROM managed_lists");
  ASSERT_TRUE(rows.ok());
  ASSERT_TRUE(rows->step().ok());
  EXPECT_EQ(rows->integer(0), 1) << "not one managed list per name";
}

TEST_F(Commands, TheDesiredListFollowsTheCommandsOrderWhereverTheirNamesWereFound) {
  // The directory knows Tony by his names but his Identity (as if Exchange had just renamed
  // him). An allow by his address, then a revoke of the same ID by his Identity, which only
  // Exchange can resolve: the MDM's latest decision, not allowed, is what the desired list keeps.
  using namespace mailbox_names;
  const sim::SimMailbox& tony = *gateway_.organisation().findMailbox(kTony);
  auto entry = mailboxEntryFromCasMailbox(*sim::casMailbox(tony.facts).asObject());
  ASSERT_TRUE(entry.has_value());
  std::erase_if(entry->names, [&](const std::string& n) { return n == kTonysIdentity; });
  ASSERT_TRUE(directory_->record(*entry, clock_.nowMs(), /*lists=*/true).ok());
  ASSERT_NE(directory_->lookup(kTonysIdentity).kind, NameLookup::Kind::kFound);
  submit(command(CommandKind::kAllow, kTony, "D7"));
  submit(command(CommandKind::kRevoke, kTonysIdentity, "D7"));
  while (runDue() > 0) {
  }
  EXPECT_EQ(directory_->lookup(kTonysIdentity).kind, NameLookup::Kind::kFound)
      << "Exchange was asked, and the directory learnt the name";
  EXPECT_TRUE(allowedOf(gateway_.organisation(), kTony).empty());
  const auto key = directory_->lookup(kTony);
  ASSERT_EQ(key.kind, NameLookup::Kind::kFound);
  EXPECT_TRUE(
      directory_->list(key.key, "allowed", MailboxDirectory::Source::kDesired).value().empty())
      << "a drift check would put D7 back";
}

TEST_F(Commands, OrderPerMailboxHoldsWhateverNameEachCommandUses) {
  // Eight pairs: allow by SMTP address, then revoke by Identity. Every revoke must come after
  // its allow, so the device ends up not allowed.
  for (int i = 0; i < 8; ++i) {
    const std::string id = "PAIR" + std::to_string(i);
    submit(command(CommandKind::kAllow, kTony, id));
    submit(command(CommandKind::kRevoke, mailbox_names::kTonysIdentity, id));
  }
  std::size_t rounds = 0;
  while (runDue() > 0) {
    ++rounds;
    // One mailbox: never two of its calls at once, whatever its name.
    std::size_t running = 0;
    for (const auto& c : journal_->unfinished().value()) running += c.attempts > 0 ? 1 : 0;
    EXPECT_EQ(running, 0u);
  }
  EXPECT_EQ(rounds, 1u) << "one mailbox under two names: its sixteen edits in one call";
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 1u);
  EXPECT_TRUE(mailbox_names::allowedOf(gateway_.organisation(), kTony).empty());
}

TEST_F(Commands, NamesCompareAsExchangeComparesThemBeyondAscii) {
  // Names asked one at a time: the second spelling is then found in the directory the first
  // taught (asked at once, each would cost a look-up, and still name one mailbox).
  options_.parallelism = 1;
  makeExecutor();
  sim::MailboxFacts zoe;
  zoe.identity = "contoso.com/Users/Zoë Ünal";
  zoe.name = "Zoë Ünal";
  zoe.setPrimarySmtpAddress("zoë.ünal@contoso.com");
  gateway_.organisation().addMailbox(zoe);
  submit(command(CommandKind::kAllow, "ZOË.ÜNAL@CONTOSO.COM", "Z1"));
  submit(command(CommandKind::kRevoke, "contoso.com/Users/zoë ünal", "Z1"));
  EXPECT_EQ(runDue(), 2u) << "the same mailbox: one call, in order";
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 1u);
  EXPECT_EQ(requestsOf("Get-CASMailbox"), 1u + 1u)
      << "one look-up for the first name; the second is in the directory (plus the read-back)";
  EXPECT_TRUE(gateway_.organisation()
                  .findMailbox("zoë.ünal@contoso.com")
                  ->facts.allowed_device_ids.empty());
  EXPECT_EQ(directory_->lookup("zoë.ünal@contoso.com").key,
            directory_->lookup("contoso.com/Users/ZOË ÜNAL").key);
}

TEST_F(Commands, BlockingAnAllowedDeviceTakesItOffTheAllowedListInTheSameCall) {
  std::int64_t allow = submit(command(CommandKind::kAllow, kTony, "APPL1"));
  std::int64_t block = submit(command(CommandKind::kBlock, kTony, "APPL1"));
  while (runDue() > 0) {
  }
  ASSERT_EQ(get(allow).state, CommandState::kSucceeded);
  ASSERT_EQ(get(block).state, CommandState::kSucceeded) << get(block).last_error;
  const auto& edit = lastRequestOf("Set-CASMailbox");
  ASSERT_TRUE(edit.parameter("ActiveSyncBlockedDeviceIDs"));
  ASSERT_TRUE(edit.parameter("ActiveSyncAllowedDeviceIDs")) << "one call edits both lists";
  EXPECT_EQ(std::get<powershell::ListEdit>(*edit.parameter("ActiveSyncAllowedDeviceIDs")),
            (powershell::ListEdit{{}, {"APPL1"}}));
  EXPECT_EQ(blockedOf(kTony), std::vector<std::string>{"APPL1"});
  EXPECT_TRUE(mailbox_names::allowedOf(gateway_.organisation(), kTony).empty());
  const std::string key = directory_->lookup(kTony).key;
  using Source = MailboxDirectory::Source;
  EXPECT_TRUE(directory_->list(key, "allowed", Source::kDesired).value().empty())
      << "the desired allowed list agrees with Exchange: a drift check will not undo the block";
  EXPECT_EQ(directory_->list(key, "blocked", Source::kDesired).value(),
            std::vector<std::string>{"APPL1"});
  EXPECT_EQ(directory_->list(key, "blocked", Source::kHarvested).value(),
            std::vector<std::string>{"APPL1"})
      << "the lists were read back after the edit";
  EXPECT_EQ(get(block).state, CommandState::kSucceeded);
}

TEST_F(Commands, SetBlockedReplacesTheBlockedListAndFreesItsIdsFromTheAllowedOne) {
  gateway_.organisation().findMailbox(kTony)->facts.allowed_device_ids = {"A", "B"};
  gateway_.organisation().findMailbox(kTony)->facts.blocked_device_ids = {"X"};
  CommandRequest set = command(CommandKind::kSetBlocked, kTony);
  set.device_ids = {"B", "Y"};
  std::int64_t id = submit(set);
  runDue();
  ASSERT_EQ(get(id).state, CommandState::kSucceeded) << get(id).last_error;
  EXPECT_EQ(blockedOf(kTony), (std::vector<std::string>{"B", "Y"}));
  EXPECT_EQ(mailbox_names::allowedOf(gateway_.organisation(), kTony),
            std::vector<std::string>{"A"});
  EXPECT_EQ(requestsOf("Set-CASMailbox"), 1u) << "one call for both lists";
}

TEST_F(Commands, AMailboxExchangeDoesNotKnowFailsTheCommandAndHoldsNothingUp) {
  std::int64_t ghost = submit(command(CommandKind::kAllow, "ghost@contoso.com", "G1"));
  std::int64_t tony = submit(command(CommandKind::kAllow, kTony, "T1"));
  runDue();
  EXPECT_EQ(get(ghost).state, CommandState::kFailed);
  EXPECT_EQ(get(tony).state, CommandState::kSucceeded);
}

TEST_F(Commands, ANameTwoMailboxesShareFailsWithAClearError) {
  sim::MailboxFacts other;
  other.identity = "contoso.com/Sales/Tony Smith";
  other.name = "Tony Smith";  // the same Name as the Tony in Users
  other.setPrimarySmtpAddress("tony.smith2@contoso.com");
  gateway_.organisation().addMailbox(other);
  std::int64_t id = submit(command(CommandKind::kAllow, "Tony Smith", "A1"));
  runDue();
  CommandRecord c = get(id);
  EXPECT_EQ(c.state, CommandState::kFailed);
  EXPECT_NE(c.last_error.find("fits more than one mailbox"), std::string::npos) << c.last_error;
  EXPECT_NE(c.last_error.find("matches multiple entries"), std::string::npos) << c.last_error;
}

TEST_F(Commands, WhileAMailboxCannotBeResolvedLaterCommandsWait) {
  options_.parallelism = 1;  // the first name asked first: it is the one throttled
  makeExecutor();
  gateway_.failNext({GatewayErrc::kThrottled, "user load quota exceeded", "", 30'000});
  std::int64_t first = submit(command(CommandKind::kAllow, kTony, "F1"));
  std::int64_t second = submit(command(CommandKind::kRevoke, mailbox_names::kTonysIdentity, "F1"));
  EXPECT_EQ(runDue(), 0u);
  EXPECT_EQ(get(first).state, CommandState::kRetrying);
  EXPECT_NE(get(first).last_error.find("resolving the mailbox"), std::string::npos);
  EXPECT_EQ(get(second).state, CommandState::kQueued) << "it may be for the same mailbox";
  EXPECT_EQ(executor_->nextDue().value(), get(first).next_attempt_ms)
      << "the second is not due before the first is resolved: no run before then";
  clock_.set(get(first).next_attempt_ms);
  while (runDue() > 0) {
  }
  EXPECT_EQ(get(first).state, CommandState::kSucceeded);
  EXPECT_EQ(get(second).state, CommandState::kSucceeded);
  EXPECT_TRUE(mailbox_names::allowedOf(gateway_.organisation(), kTony).empty())
      << "allow, then revoke: in that order";
}

TEST_F(Commands, ARunAsksExchangeForAtMostItsShareOfUnknownNamesAndRunsWhatItResolved) {
  // Names the directory does not know (the MDM's commands before the first harvest): each costs
  // Exchange a call, a second or more on a busy server. A run asks for a few and runs those
  // commands; it does not first ask for a whole page of them while nothing runs.
  options_.lookups_per_run = 3;
  options_.parallelism = 1;  // in the order chosen
  makeExecutor();
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(7, /*known=*/false);
  auto state = [&](std::size_t i) { return get(allows[i]).state; };
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(lookUps(), 3u);
  EXPECT_EQ(state(2), CommandState::kSucceeded);
  EXPECT_EQ(state(3), CommandState::kQueued);
  EXPECT_TRUE(get(allows[3]).mailbox_key.empty()) << "not asked yet";
  EXPECT_EQ(runDue(), 3u);
  EXPECT_EQ(lookUps(), 6u);
  EXPECT_EQ(state(5), CommandState::kSucceeded);
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(lookUps(), 7u);
  for (std::size_t i = 0; i < allows.size(); ++i) {
    EXPECT_EQ(state(i), CommandState::kSucceeded) << i;
    EXPECT_EQ(mailbox_names::allowedOf(gateway_.organisation(), userAddress(int(i))),
              std::vector<std::string>{"DEV" + std::to_string(i)});
  }
  // A name asked once is known: its next command needs no call to resolve it.
  const std::int64_t again = submit(command(CommandKind::kAllow, userAddress(0), "DEV9"));
  EXPECT_EQ(runDue(), 1u);
  EXPECT_EQ(get(again).state, CommandState::kSucceeded);
  EXPECT_EQ(lookUps(), 7u);
}

TEST_F(Commands, UnknownNamesAreAskedOfExchangeSeveralAtOnce) {
  // The bridges are a pool: four names asked one after the other take four times as long.
  options_.parallelism = 4;
  makeExecutor();
  std::mutex mutex;
  std::condition_variable arrived;
  int asking = 0, most = 0;
  gateway_.onCall([&](const powershell::BridgeRequest& r) {
    if (!isLookUp(r)) return;
    std::unique_lock lock(mutex);
    most = std::max(most, ++asking);
    arrived.notify_all();
    // Held until four are asked at once (or a while: asked one at a time, they never are).
    arrived.wait_for(lock, std::chrono::seconds(2), [&] { return most >= 4; });
    --asking;
  });
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(4, /*known=*/false);
  EXPECT_EQ(runDue(), 4u);
  EXPECT_EQ(most, 4) << "the four names asked at once";
  for (std::int64_t id : allows) EXPECT_EQ(get(id).state, CommandState::kSucceeded);
}

TEST_F(Commands, AStopEndsTheLookUpsOfARunTheCommandsNotAskedForStayQueued) {
  options_.parallelism = 1;
  makeExecutor();
  const std::vector<std::int64_t> allows = allowOnNewMailboxes(5, /*known=*/false);
  std::atomic<bool> stopping{false};
  gateway_.onCall([&](const powershell::BridgeRequest& r) {
    if (isLookUp(r)) stopping = true;  // Ctrl+C while Exchange answers the first
  });
  auto ran = executor_->runDue([&] { return !stopping.load(); });
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  EXPECT_EQ(lookUps(), 1u) << "no name asked after the stop";
  for (std::size_t i = 1; i < allows.size(); ++i) {
    EXPECT_EQ(get(allows[i]).state, CommandState::kQueued) << i;
    EXPECT_TRUE(get(allows[i]).mailbox_key.empty()) << i;
  }
  // The next start takes them up.
  gateway_.onCall({});
  while (runDue() > 0) {
  }
  for (std::int64_t id : allows) EXPECT_EQ(get(id).state, CommandState::kSucceeded);
}

}  // namespace
}  // namespace easgate::agent
