// Root must not create files in the service account's data directory: SQLite's journal and
// shared-memory files would be root's, and the agent, running as its own account, could no
// longer open its store. The packages install the data directory as the service account's, so
// an administrator's `sudo easgate export ...` is exactly this case.
#include <pwd.h>
#include <unistd.h>

#include "tests/service/cli_test_support.h"

namespace easgate::testing {
namespace {

constexpr uid_t kNobody = 65534;

class DataDirectoryOwner : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "*** SKIPPED: needs root, to give a folder away ***";
    data_ = dir_ / "data";
    std::filesystem::create_directories(data_);
    ASSERT_EQ(::chown(data_.c_str(), kNobody, kNobody), 0);
    const passwd* entry = ::getpwuid(kNobody);
    owner_ = entry ? entry->pw_name : std::to_string(kNobody);
  }

  bool dataDirectoryIsEmpty() const { return std::filesystem::is_empty(data_); }

  std::filesystem::path data_;
  std::string owner_;
};

TEST_F(DataDirectoryOwner, ExportAsRootRefusesAndNamesTheAccountToUse) {
  auto r = run("export --live --exchange simulator --data-dir '" + data_.string() + "'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("belongs to '" + owner_ + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sudo -u " + owner_), std::string::npos) << r.err;
  EXPECT_TRUE(dataDirectoryIsEmpty());
}

TEST_F(DataDirectoryOwner, TheAgentAsRootRefusesToStart) {
  auto r = run("agent --until-idle --exchange simulator --data-dir '" + data_.string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("belongs to '" + owner_ + "'"), std::string::npos) << r.err;
  EXPECT_TRUE(dataDirectoryIsEmpty());
}

TEST_F(DataDirectoryOwner, RootsOwnFolderIsUsedAsBefore) {
  ASSERT_EQ(::chown(data_.c_str(), 0, 0), 0);
  auto r = run("agent --until-idle --exchange simulator --data-dir '" + data_.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(data_ / "easgate.db"));
}

}  // namespace
}  // namespace easgate::testing
