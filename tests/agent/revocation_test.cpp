// Revocation lists: what `easgate pki revoke` publishes, and what the listener and doctor make
// of a list (tls.client_crl). The listener's use of them is in tls_end_to_end_test.cpp.
#include "agent/transport/revocation.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "agent/transport/certificates.h"
#include "tests/support/scratch.h"

namespace easgate::agent::transport {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Revocation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = easgate::testing::scratchPath("revocation");
    fs::remove_all(dir_);
    ASSERT_TRUE(ensureDevelopmentPki(dir_ / "pki", {}).ok());
    ca_ = readPemPair(dir_ / "pki", "ca").value();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  PemPair ca_;
};

TEST_F(Revocation, TheDevelopmentPkiStartsWithAnEmptyListItsCertificatesPointTo) {
  auto lists = readRevocationLists(dir_ / "pki/ca.crl");
  ASSERT_TRUE(lists.ok()) << lists.error();
  ASSERT_EQ(lists->size(), 1u);
  EXPECT_TRUE(lists->front().revoked_serials.empty());
  EXPECT_EQ(lists->front().issuer, readCertificate(dir_ / "pki/ca.pem")->subject);
  EXPECT_GT(lists->front().next_update_ms, nowMs() + 365LL * 86400'000);
  // Each certificate names the list (testssl rates a certificate without one HIGH).
  for (const char* name : {"server.pem", "admin.pem"}) {
    auto info = readCertificate(dir_ / "pki" / name);
    ASSERT_TRUE(info.ok()) << info.error();
    ASSERT_EQ(info->crl_uris.size(), 1u) << name;
    EXPECT_EQ(info->crl_uris[0].rfind("file:///", 0), 0u) << info->crl_uris[0];
    EXPECT_EQ(info->crl_uris[0].substr(info->crl_uris[0].size() - 11), "/pki/ca.crl");
  }
  auto store = loadVerifyStore(dir_ / "pki/ca.pem", dir_ / "pki/ca.crl", nowMs());
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_TRUE(store->warnings.empty());
}

TEST_F(Revocation, EachRevocationAddsToTheListAndRepeatsAreHarmless) {
  const std::string reader = slurp(dir_ / "pki/reader.pem");
  const std::string admin = slurp(dir_ / "pki/admin.pem");
  auto first = publishRevocationList(ca_, dir_ / "pki/ca.crl", {reader});
  ASSERT_TRUE(first.ok()) << first.error();
  auto second = publishRevocationList(ca_, dir_ / "pki/ca.crl", {admin, reader});
  ASSERT_TRUE(second.ok()) << second.error();
  ASSERT_EQ(second->revoked_serials.size(), 2u);
  const auto serial = [&](const char* name) {
    return readCertificate(dir_ / "pki" / name)->serial;
  };
  EXPECT_NE(std::find(second->revoked_serials.begin(), second->revoked_serials.end(),
                      serial("reader.pem")),
            second->revoked_serials.end());
  EXPECT_NE(std::find(second->revoked_serials.begin(), second->revoked_serials.end(),
                      serial("admin.pem")),
            second->revoked_serials.end());
  EXPECT_EQ(readRevocationLists(dir_ / "pki/ca.crl")->front().revoked_serials.size(), 2u)
      << "what was published is what a reader finds";
  EXPECT_FALSE(fs::exists(dir_ / "pki/ca.crl.partial"));
}

TEST_F(Revocation, AnotherCasCertificateOrListIsRefused) {
  ASSERT_TRUE(ensureDevelopmentPki(dir_ / "other", {}).ok());
  auto foreign = publishRevocationList(ca_, dir_ / "pki/ca.crl", {slurp(dir_ / "other/admin.pem")});
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().find("not issued by this CA"), std::string::npos) << foreign.error();
  // Publishing over another CA's list would drop what it revoked.
  auto over = publishRevocationList(ca_, dir_ / "other/ca.crl", {});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().find("did not sign"), std::string::npos) << over.error();
  // The listener refuses to start with a list no client CA signed.
  auto store = loadVerifyStore(dir_ / "pki/ca.pem", dir_ / "other/ca.crl", nowMs());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().find("is not signed by a CA of"), std::string::npos) << store.error();
}

TEST_F(Revocation, ACaWithoutAListAndAnExpiredListAreWarnedAbout) {
  ASSERT_TRUE(ensureDevelopmentPki(dir_ / "other", {}).ok());
  const fs::path both = dir_ / "both-cas.pem";
  std::ofstream(both) << slurp(dir_ / "pki/ca.pem") << slurp(dir_ / "other/ca.pem");
  auto store = loadVerifyStore(both, dir_ / "pki/ca.crl", nowMs());
  ASSERT_TRUE(store.ok()) << store.error();
  ASSERT_EQ(store->warnings.size(), 1u);
  EXPECT_NE(store->warnings[0].find("has no revocation list"), std::string::npos);

  ASSERT_TRUE(publishRevocationList(ca_, dir_ / "pki/ca.crl", {}, -60).ok());
  auto expired = loadVerifyStore(dir_ / "pki/ca.pem", dir_ / "pki/ca.crl", nowMs());
  ASSERT_TRUE(expired.ok()) << expired.error();
  ASSERT_EQ(expired->warnings.size(), 1u);
  EXPECT_NE(expired->warnings[0].find("expired on"), std::string::npos);
}

TEST_F(Revocation, NotAListIsAClearError) {
  std::ofstream(dir_ / "pki/ca.crl", std::ios::trunc) << "not a list";
  auto lists = readRevocationLists(dir_ / "pki/ca.crl");
  ASSERT_FALSE(lists.ok());
  EXPECT_NE(lists.error().find("holds no certificate revocation list"), std::string::npos);
  EXPECT_FALSE(readRevocationLists(dir_ / "missing.crl").ok());
}

// A PKI an earlier release made has no list: it gets an empty one, its certificates unchanged.
TEST_F(Revocation, AnEarlierDevelopmentPkiGetsAList) {
  const std::string server = slurp(dir_ / "pki/server.pem");
  fs::remove(dir_ / "pki/ca.crl");
  auto found = ensureDevelopmentPki(dir_ / "pki", {});
  ASSERT_TRUE(found.ok()) << found.error();
  EXPECT_FALSE(found.value()) << "found, not created";
  EXPECT_TRUE(readRevocationLists(dir_ / "pki/ca.crl").ok());
  EXPECT_EQ(slurp(dir_ / "pki/server.pem"), server);
}

}  // namespace
}  // namespace easgate::agent::transport
