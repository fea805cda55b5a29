#include "common/files/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "tests/support/scratch.h"

namespace easgate::files {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = easgate::testing::scratchPath("atomic");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, CommitPutsTheWholeFileInPlaceAndNothingElse) {
  auto file = AtomicFile::create(dir_ / "out.csv");
  ASSERT_TRUE(file.ok()) << file.error().message;
  file->stream() << "a,b\r\n";
  EXPECT_FALSE(fs::exists(dir_ / "out.csv")) << "the target appears only on commit";
  ASSERT_TRUE(file->commit().ok());
  EXPECT_EQ(slurp(dir_ / "out.csv"), "a,b\r\n");
  EXPECT_EQ(entries(), 1u) << "no temporary file is left behind";
}

TEST_F(AtomicFileTest, AnUncommittedFileLeavesTheTargetUntouched) {
  { std::ofstream(dir_ / "out.csv") << "previous export"; }
  {
    auto file = AtomicFile::create(dir_ / "out.csv");
    ASSERT_TRUE(file.ok());
    file->stream() << "half a new export";
  }
  EXPECT_EQ(slurp(dir_ / "out.csv"), "previous export");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFileTest, CommitReplacesAnExistingFile) {
  { std::ofstream(dir_ / "out.csv") << "old"; }
  auto file = AtomicFile::create(dir_ / "out.csv");
  ASSERT_TRUE(file.ok());
  file->stream() << "new";
  ASSERT_TRUE(file->commit().ok());
  EXPECT_EQ(slurp(dir_ / "out.csv"), "new");
}

TEST_F(AtomicFileTest, ReportsAMissingDirectoryOrADirectoryTarget) {
  auto missing = AtomicFile::create(dir_ / "no" / "such" / "out.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot create"), std::string::npos);
  auto directory = AtomicFile::create(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);
}

TEST_F(AtomicFileTest, AWholeFileReplacesTheOldOneOrLeavesItAsItWas) {
  { std::ofstream(dir_ / "port") << "old"; }
  ASSERT_TRUE(writeWholeFile(dir_ / "port", "9090\n").ok());
  EXPECT_EQ(slurp(dir_ / "port"), "9090\n");
  EXPECT_EQ(entries(), 1u) << "no temporary file is left behind";
  auto refused = writeWholeFile(dir_ / "no such folder" / "port", "9090\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("no such folder"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(entries(), 1u) << "nothing made in its place";
}

}  // namespace
}  // namespace easgate::files
