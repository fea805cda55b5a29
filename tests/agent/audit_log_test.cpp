// The audit log: append-only, hash-chained, and verification that finds any change.
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = testing::scratchPath("audit", ".db");
    fs::remove(file_);
    auto db = store::openStore(file_);
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    log_ = std::make_unique<AuditLog>(*db_);
    for (int i = 1; i <= 5; ++i) {
      auto e =
          log_->append({1'700'000'000'000 + i, "CN=mdm.contoso.com", "block", "tony@contoso.com",
                        "succeeded", R"({"deviceId":"APPL)" + std::to_string(i) + R"("})"});
      ASSERT_TRUE(e.ok()) << e.error().message;
      EXPECT_EQ(e->sequence, i);
      last_hash_ = e->hash;
    }
  }
  void TearDown() override {
    log_.reset();
    db_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file_.string() + suffix);
  }
  // What someone with write access to the file could do: triggers first.
  void tamper(const std::string& sql) {
    ASSERT_TRUE(
        db_->execute("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; " + sql).ok());
  }

  fs::path file_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<AuditLog> log_;
  Sha256 last_hash_{};
};

TEST_F(AuditLogTest, AnUntouchedLogVerifiesAndNamesItsHead) {
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->entries, 5);
  EXPECT_EQ(v->head, last_hash_);
}

TEST_F(AuditLogTest, EachHashCoversTheOneBeforeAndEveryField) {
  AuditRecord r{1, "a", "b", "c", "d", "e"};
  Sha256 zero{};
  Sha256 base = AuditLog::entryHash(zero, 1, r);
  Sha256 one{};
  one[0] = 1;
  EXPECT_NE(AuditLog::entryHash(one, 1, r), base);
  EXPECT_NE(AuditLog::entryHash(zero, 2, r), base);
  AuditRecord shifted{1, "ab", "", "c", "d", "e"};  // same bytes, other field boundaries
  EXPECT_NE(AuditLog::entryHash(zero, 1, shifted), base);
  EXPECT_EQ(toHex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
      << "SHA-256 as FIPS 180-2 gives it";
}

TEST(Sha256StreamTest, BytesGivenInPartsHashAsTheyWouldJoined) {
  // FIPS 180-2's second example (56 bytes: the padding takes a second block), cut anywhere.
  const std::string message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const std::string expected = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  ASSERT_EQ(toHex(sha256(message)), expected);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{55}, message.size()}) {
    Sha256Stream stream;
    stream.add(std::string_view(message).substr(0, cut)).add(std::string_view(message).substr(cut));
    EXPECT_EQ(toHex(stream.finish()), expected) << "cut at " << cut;
  }
  Sha256Stream nothing;
  EXPECT_EQ(nothing.finish(), sha256("")) << "nothing added: the digest of no bytes";
}

TEST_F(AuditLogTest, TheStoreRefusesToChangeOrDeleteEntries) {
  auto update = db_->execute("UPDATE audit SET outcome = 'failed' WHERE sequence = 2");
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.error().code, store::StoreErrc::kConstraint);
  EXPECT_NE(update.error().message.find("append-only"), std::string::npos);
  EXPECT_FALSE(db_->execute("DELETE FROM audit WHERE sequence = 5").ok());
}

TEST_F(AuditLogTest, FindsAChangedEntry) {
  tamper("UPDATE audit SET target = 'lila@contoso.com' WHERE sequence = 3");
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->intact);
  EXPECT_EQ(v->first_bad_sequence, 3);
  EXPECT_NE(v->problem.find("changed"), std::string::npos);
}

TEST_F(AuditLogTest, FindsARemovedEntry) {
  tamper("DELETE FROM audit WHERE sequence = 2");
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->intact);
  EXPECT_EQ(v->first_bad_sequence, 2);
}

TEST_F(AuditLogTest, FindsReorderedEntries) {
  // Swap entries 2 and 4 with their hashes: every entry still matches its own hash.
  tamper(
      "CREATE TEMP TABLE swap AS SELECT * FROM audit WHERE sequence IN (2, 4);"
      "DELETE FROM audit WHERE sequence IN (2, 4);"
      "INSERT INTO audit SELECT 6 - sequence, at_ms, actor, action, target, outcome, detail, "
      "prev_hash, hash FROM swap;");
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->intact);
  EXPECT_EQ(v->first_bad_sequence, 2);
}

TEST_F(AuditLogTest, ARewrittenChainStillDiffersFromTheHeadNotedBefore) {
  tamper("DELETE FROM audit WHERE sequence = 5");
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << "dropping the newest entries leaves a valid chain";
  EXPECT_NE(v->head, last_hash_) << "so the head hash is what catches it";
  EXPECT_EQ(v->entries, 4);
}

TEST_F(AuditLogTest, AppendsKeepChainingAfterReopening) {
  log_.reset();
  db_.reset();
  auto db = store::openStore(file_);
  ASSERT_TRUE(db.ok());
  db_ = std::move(db).value();
  log_ = std::make_unique<AuditLog>(*db_);
  auto e = log_->append({1, "agent", "harvest", "organisation", "succeeded", "{}"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->sequence, 6);
  auto v = log_->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->entries, 6);
}

}  // namespace
}  // namespace easgate::agent
