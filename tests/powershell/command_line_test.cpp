#include "powershell/host/command_line.h"

#include <gtest/gtest.h>

#include <boost/process/environment.hpp>
#include <string>
#include <vector>

#include "powershell/host/child_process.h"

namespace easgate::powershell {
namespace {

// What a bridge's command line must carry through intact: Windows paths with spaces and a
// trailing backslash, quotes in a value, empty values, tabs.
const std::vector<std::string> kHardArguments = {
    "-File",
    R"(C:\Program Files\easgate\bridge.ps1)",
    R"(C:\ProgramData\easgate\)",
    R"(say "hello")",
    "",
    "tab\there",
    R"(back\\slashes\)",
    R"(\"already escaped\")",
    "plain",
};

TEST(WindowsCommandLine, QuotesWhatTheCRuntimeWouldSplitOrUnescape) {
  EXPECT_EQ(windowsCommandLine(R"(C:\Program Files\PowerShell\7\pwsh.exe)",
                               {"-NoProfile", "-File", R"(C:\Program Files\easgate\bridge.ps1)"}),
            R"("C:\Program Files\PowerShell\7\pwsh.exe" -NoProfile -File )"
            R"("C:\Program Files\easgate\bridge.ps1")");
  EXPECT_EQ(windowsCommandLine("p", {R"(C:\data dir\)"}), R"("p" "C:\data dir\\")")
      << "a backslash before the closing quote is doubled, or it would escape the quote";
  EXPECT_EQ(windowsCommandLine("p", {R"(say "hi")"}), R"("p" "say \"hi\"")");
  EXPECT_EQ(windowsCommandLine("p", {R"(a\"b)"}), R"("p" "a\\\"b")")
      << "backslashes before a quote are doubled, and the quote escaped";
  EXPECT_EQ(windowsCommandLine("p", {R"(C:\no\spaces)"}), R"("p" C:\no\spaces)")
      << "backslashes elsewhere are literal";
  EXPECT_EQ(windowsCommandLine("p", {""}), R"("p" "")") << "an empty argument stays one";
}

// The same arguments through a real child process started as a bridge is: on Windows its C
// runtime splits the command line windowsCommandLine built; on POSIX execve passes a list.
TEST(ChildProcess, EveryArgumentReachesTheChildAsItWas) {
  auto in = makeChildPipe();
  auto out = makeChildPipe();
  auto err = makeChildPipe();
  auto child = startChild({EASGATE_ECHO_ARGS_BINARY, kHardArguments, {}},
                          boost::this_process::environment(), in, out, err);
  in.close();
  std::string received;
  char buffer[4096];
  for (int n = out.read(buffer, sizeof buffer); n > 0; n = out.read(buffer, sizeof buffer)) {
    received.append(buffer, static_cast<std::size_t>(n));
  }
  child.wait();
  EXPECT_EQ(child.exit_code(), 0);
  std::vector<std::string> arguments;
  for (std::size_t at = 0, end; (end = received.find('\0', at)) != std::string::npos;
       at = end + 1) {
    arguments.push_back(received.substr(at, end - at));
  }
  EXPECT_EQ(arguments, kHardArguments);
}

}  // namespace
}  // namespace easgate::powershell
