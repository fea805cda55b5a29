#pragma once

// Running the real easgate binary from a test: a scratch directory per test, the command's
// exit code, standard output and standard error.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/support/scratch.h"

namespace easgate::testing {

struct CliRun {
  int exit_code;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratchPath("cli");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `easgate ARGS` through the shell (ARGS quoted by the caller).
  CliRun run(const std::string& args) {
    std::string command = std::string("'") + EASGATE_BINARY + "' " + args + " >'" +
                          (dir_ / "stdout").string() + "' 2>'" + (dir_ / "stderr").string() +
                          "' </dev/null";
    int status = std::system(command.c_str());
    return CliRun{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir_ / "stdout"),
                  slurp(dir_ / "stderr")};
  }

  std::filesystem::path dir_;
};

}  // namespace easgate::testing
