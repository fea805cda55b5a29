#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>

namespace easgate::testing {

// A path in the temporary directory named after the running test and this process, so tests
// never share files, even when two runs of the suite overlap on one machine:
// <tmp>/easgate-<what>-<pid>-<test name><suffix>.
inline std::filesystem::path scratchPath(std::string_view what, std::string_view suffix = "") {
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test.begin(), test.end(), '/', '-');  // parameterised names hold slashes
  return std::filesystem::temp_directory_path() /
         ("easgate-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" + test +
          std::string(suffix));
}

}  // namespace easgate::testing
