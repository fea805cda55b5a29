// `easgate audit verify` on a real store file: intact, tampered, truncated, and its errors.
#include <filesystem>
#include <thread>

#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
#include "agent/store/write_behind.h"
#include "tests/service/cli_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace easgate;
using easgate::testing::CliRun;

class AuditCli : public easgate::testing::CliTest {
 protected:
  // A store with `n` audit entries; returns the head hash in hex.
  std::string writeLog(int n) {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    EXPECT_TRUE(db.ok());
    agent::AuditLog log(*db.value());
    std::string head;
    for (int i = 1; i <= n; ++i) {
      auto e = log.append({i, "CN=mdm", "wipe", "tony@contoso.com", "accepted", "{}"});
      EXPECT_TRUE(e.ok());
      head = agent::toHex(e->hash);
    }
    return head;
  }
  void tamper(const std::string& sql) {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db.value()
                    ->execute("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; " + sql)
                    .ok());
  }
  std::string dataDir() const { return "--data-dir '" + dir_.string() + "'"; }
};

TEST_F(AuditCli, AnIntactLogExitsZeroAndPrintsItsHead) {
  std::string head = writeLog(4);
  CliRun r = run("audit verify " + dataDir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("intact: 4 entries, head " + head), std::string::npos) << r.out;
}

// Verifying while the agent writes: the agent's connection keeps its lock on the store. Its
// write-behind once opened and closed the store file to push it, and closing any descriptor of a
// file drops every POSIX lock the process holds on it; `audit verify`, closing its connection,
// then took itself for the last one, checkpointed and deleted the log the agent still wrote, and
// the agent's later commits went to a deleted file.
TEST_F(AuditCli, VerifyingWhileTheAgentWritesLeavesTheAgentsLogInPlace) {
  writeLog(2);
  auto opened = agent::store::openStore(agent::store::storeFile(dir_));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  agent::store::Database& store = *opened.value();
  ASSERT_TRUE(store.commitWithoutWaitingForTheDisk().ok());  // as the agent's harvest connection
  ASSERT_TRUE(store.transaction([&] { return store.execute("CREATE TABLE t (v INTEGER)"); }).ok());
  std::this_thread::sleep_for(agent::store::WriteBehind::kPeriod * 10);  // pushed by now

  CliRun r = run("audit verify " + dataDir());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(store.transaction([&] { return store.execute("INSERT INTO t VALUES (1)"); }).ok());
  EXPECT_TRUE(fs::exists(agent::store::storeFile(dir_).string() + "-wal"))
      << "`audit verify` deleted the log the agent was writing";
}

TEST_F(AuditCli, ATamperedLogExitsFourAndSaysWhere) {
  writeLog(4);
  tamper("UPDATE audit SET action = 'allow' WHERE sequence = 2");
  CliRun r = run("audit verify " + dataDir());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.out.find("TAMPERED: entry 2 was changed"), std::string::npos) << r.out;
}

TEST_F(AuditCli, TheNotedHeadCatchesTruncationAndAcceptsGrowth) {
  std::string noted = writeLog(3);
  writeLog(1);  // the log grows
  CliRun grown = run("audit verify " + dataDir() + " --expect-head " + noted);
  EXPECT_EQ(grown.exit_code, 0) << grown.out << grown.err;
  EXPECT_NE(grown.out.find("entry 3; the log has grown"), std::string::npos) << grown.out;

  tamper("DELETE FROM audit WHERE sequence >= 3");
  CliRun truncated = run("audit verify " + dataDir() + " --expect-head " + noted);
  EXPECT_EQ(truncated.exit_code, 4);
  EXPECT_NE(truncated.out.find("is not in the log"), std::string::npos) << truncated.out;
}

// After `easgate demo`, the store is in its folder, not in the default data directory: the
// message says where.
TEST_F(AuditCli, AMissingStoreNamesTheDemosStoreWhenThereIsOne) {
  fs::create_directories(dir_ / "easgate-demo" / "data");
  ASSERT_TRUE(
      agent::store::openStore(agent::store::storeFile(dir_ / "easgate-demo" / "data")).ok());
  CliRun r = run("audit list --data-dir '" + (dir_ / "nothing").string() + "'", dir_);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("easgate demo's store is here: --data-dir easgate-demo"), std::string::npos)
      << r.err;
}

TEST_F(AuditCli, NamesAMissingStoreAndABadHash) {
  CliRun missing = run("audit verify --data-dir '" + (dir_ / "nothing").string() + "'");
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("no store at"), std::string::npos);
  writeLog(1);
  CliRun bad = run("audit verify " + dataDir() + " --expect-head xyz");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("64 hex digits"), std::string::npos);
}

// `easgate audit list` on the host: who wiped what, and when, as a table, CSV or the API's JSON.
TEST_F(AuditCli, ListShowsWhoDidWhatNewestFirstAndFilters) {
  {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    ASSERT_TRUE(db.ok());
    agent::AuditLog log(*db.value());
    const std::int64_t day = 1'796'083'200'000;  // 2026-12-01T00:00:00Z
    ASSERT_TRUE(log.append({day + 1000, "CN=mdm (sha256:0123456789abcdef)", "wipe",
                            "contoso.com/Users/Zoë/ExchangeActiveSyncDevices/iPhone§A", "accepted",
                            R"({"command":7})"})
                    .ok());
    ASSERT_TRUE(log.append({day + 2000, "CN=reporting (sha256:fedcba9876543210)", "wipe",
                            "tony@contoso.com", "denied: the reader role cannot wipe", "{}"})
                    .ok());
    ASSERT_TRUE(log.append({day + 3000, "CN=mdm (sha256:0123456789abcdef)", "allow",
                            "=cmd|' /C calc'!A0", "accepted", R"({"command":8})"})
                    .ok());
  }
  CliRun table = run("audit list " + dataDir());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const auto allow_at = table.out.find("allow");
  const auto wipe_at = table.out.find("wipe");
  EXPECT_LT(allow_at, wipe_at) << "newest first:\n" << table.out;
  EXPECT_NE(table.out.find("2026-12-01T00:00:01Z"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("denied: the reader role cannot wipe"), std::string::npos);

  CliRun wipes = run("audit list " + dataDir() + " --action wipe --actor MDM --format json");
  ASSERT_EQ(wipes.exit_code, 0) << wipes.err;
  EXPECT_NE(wipes.out.find(R"("command":7)"), std::string::npos) << wipes.out;
  EXPECT_EQ(wipes.out.find("reporting"), std::string::npos) << wipes.out;
  EXPECT_EQ(wipes.out.find("allow"), std::string::npos) << wipes.out;

  CliRun csv = run("audit list " + dataDir() + " --format csv --since 2026-12-01T00:00:02Z");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("SEQ,AT (UTC),ACTOR,ACTION,TARGET,OUTCOME,COMMAND\r\n", 0), 0u)
      << csv.out;
  EXPECT_NE(csv.out.find(R"("'=cmd|' /C calc'!A0")"), std::string::npos)
      << "a formula-like target is defused for spreadsheets: " << csv.out;
  EXPECT_EQ(csv.out.find("iPhone"), std::string::npos) << "before --since";

  CliRun bad = run("audit list " + dataDir() + " --since yesterday");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--since"), std::string::npos) << bad.err;
  CliRun none = run("audit list " + dataDir() + " --action block");
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("no entry matches"), std::string::npos) << none.out;
}

}  // namespace
