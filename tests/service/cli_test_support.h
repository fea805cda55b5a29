#pragma once

// Running the real easgate binary from a test: a scratch directory per test, the command's
// exit code, standard output and standard error. On every platform: the program is started
// directly (Boost.Process), not through a shell.
#include <gtest/gtest.h>

#include <boost/process.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "powershell/host/child_process.h"
#include "powershell/host/command_line.h"
#include "tests/support/scratch.h"
#include "tests/support/start_again.h"

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

  // Runs `easgate ARGS`. ARGS is split as a POSIX shell splits words, with single quotes only
  // ('C:\path with spaces' is one word, backslashes and all); standard input is empty. It runs
  // in `cwd`, or in the test's own working directory when none is given.
  CliRun run(const std::string& args, const std::filesystem::path& cwd = {}) {
    namespace bp = boost::process;
    const std::vector<std::string> words = shellWords(args);
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    // Boost.Process opens a file for output without truncating it: a shorter answer would
    // end in the last one's tail.
    std::filesystem::remove(out);
    std::filesystem::remove(err);
    const std::string where = cwd.empty() ? std::filesystem::current_path().string() : cwd.string();
    auto start = [&]() -> Result<bp::child, Error<int>> {
      try {
#ifdef _WIN32
        // Windows passes one command line: quoted as the agent quotes a bridge's.
        return bp::child(bp::cmd = powershell::windowsCommandLine(EASGATE_BINARY, words),
                         bp::std_out > out, bp::std_err > err, bp::std_in < bp::null,
                         bp::start_dir = where);
#else
        return bp::child(bp::exe = EASGATE_BINARY, bp::args = words, bp::std_out > out,
                         bp::std_err > err, bp::std_in < bp::null, bp::start_dir = where);
#endif
      } catch (const bp::process_error& e) {
        return Error<int>{e.code().value(), e.what()};
      }
    };
    auto started = startTryingAgain("easgate", start);
    if (!started) throw std::runtime_error("cannot start easgate: " + started.error().message);
    bp::child& child = started.value();
    child.wait();
    // A crash is 128 + its signal, as a shell says, never a signal number that reads as one of
    // easgate's exit codes (an abort, 6, is ctl's "refused").
    return CliRun{powershell::shellExitStatus(child), slurp(dir_ / "stdout"),
                  slurp(dir_ / "stderr")};
  }

  static std::vector<std::string> shellWords(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    bool quoted = false;
    for (char c : text) {
      if (quoted) {
        if (c == '\'') {
          quoted = false;
        } else {
          word += c;
        }
      } else if (c == '\'') {
        quoted = in_word = true;
      } else if (c == ' ' || c == '\t' || c == '\n') {
        if (in_word) words.push_back(std::move(word));
        word.clear();
        in_word = false;
      } else {
        word += c;
        in_word = true;
      }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
  }

  std::filesystem::path dir_;
};

}  // namespace easgate::testing
