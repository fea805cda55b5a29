#include "powershell/host/child_pipe.h"

namespace easgate::powershell {

// Boost.Process on Windows marks the child's end of a pipe inheritable just before
// CreateProcess. BridgeProcess::start creates children one at a time, which keeps one bridge's
// pipe ends out of another as long as the parent closes them after each start. Unverified until
// the Windows build runs its tests (the Windows service issue); PROC_THREAD_ATTRIBUTE_HANDLE_LIST
// is the remedy if it does not hold.
boost::process::pipe makeChildPipe() { return boost::process::pipe(); }

}  // namespace easgate::powershell
