#include "powershell/host/child_process.h"

#include <boost/process.hpp>
#include <cstdint>
#include <cstdio>
#include <string>

#include "powershell/host/command_line.h"

namespace easgate::powershell {
namespace bp = boost::process;

// Pipes are created non-inheritable (CreatePipe without security attributes); Boost makes the
// child's end inheritable just for the CreateProcess that starts the child, and closes it in
// this process after.
bp::pipe makeChildPipe() { return bp::pipe(); }

bp::child startChild(const BridgeCommand& command, const bp::environment& environment, bp::pipe& in,
                     bp::pipe& out, bp::pipe& err) {
  return bp::child(bp::cmd = windowsCommandLine(command.program, command.arguments), environment,
                   bp::std_in<in, bp::std_out> out, bp::std_err > err);
}

int shellExitStatus(const bp::child& ended) { return ended.exit_code(); }

std::string describeExit(const bp::child& ended) {
  const auto code = static_cast<std::uint32_t>(ended.native_exit_code());
  // An NTSTATUS error (0xC...) is how Windows reports a crash; in decimal it says nothing.
  if (code >= 0xC0000000u) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(code));
    return std::string("exited with code ") + hex;
  }
  return "exited with code " + std::to_string(code);
}

}  // namespace easgate::powershell
