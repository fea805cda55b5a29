// `easgate audit verify` on a real store file: intact, tampered, truncated, and its errors.
#include <filesystem>

#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
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

TEST_F(AuditCli, NamesAMissingStoreAndABadHash) {
  CliRun missing = run("audit verify --data-dir '" + (dir_ / "nothing").string() + "'");
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("no store at"), std::string::npos);
  writeLog(1);
  CliRun bad = run("audit verify " + dataDir() + " --expect-head xyz");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("64 hex digits"), std::string::npos);
}

}  // namespace
