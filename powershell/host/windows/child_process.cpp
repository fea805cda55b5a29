#include "powershell/host/child_process.h"

#include <boost/process.hpp>

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

}  // namespace easgate::powershell
