#pragma once

#include <boost/process/child.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/pipe.hpp>
#include <string>

#include "powershell/host/bridge_command.h"

namespace easgate::powershell {

// How a bridge process is started; the platform's file (posix/, windows/) holds the rest.

// A pipe for one of a bridge's standard streams that no other child process inherits.
//
// Boost.Process 1.74 (Debian 12) creates inheritable pipes on POSIX, so a bridge started while
// another is starting can hold that one's stdin open, and that one never sees EOF. Its remedy,
// bp::limit_handles, closes pipe_out descriptors in the child in that version
// (boostorg/process#282, fixed in 1.85) and hides exec errors (boostorg/process#202). So the
// pipes are made non-inheritable from birth instead; the child's ends become its stdio, which
// it does inherit. (On Windows, pipes are born non-inheritable and Boost marks the child's ends
// inheritable only for its CreateProcess; BridgeProcess::start makes one child at a time.)
boost::process::pipe makeChildPipe();

// Starts `command` with these pipes as its stdin, stdout and stderr. On Windows, the command
// line is quoted by windowsCommandLine (command_line.h), not by Boost. On POSIX the first start
// sets SIGPIPE to be ignored, process-wide: a write to a bridge that has died then fails with
// EPIPE instead of ending the agent. Throws as Boost does.
boost::process::child startChild(const BridgeCommand& command,
                                 const boost::process::environment& environment,
                                 boost::process::pipe& in, boost::process::pipe& out,
                                 boost::process::pipe& err);

// How a child that has ended ended, as a shell reports it: its exit code, or on POSIX 128 plus
// the signal that ended it (134 for an abort). Boost's exit_code() gives the bare signal number
// for a signal, which reads as an exit code: a bridge killed with SIGKILL would seem to have
// exited with 9.
int shellExitStatus(const boost::process::child& ended);

// The same for a person: "exited with code 3", "was ended by signal 9 (SIGKILL)" on POSIX;
// Windows status codes (0xC0000005, an access violation) in hexadecimal.
std::string describeExit(const boost::process::child& ended);

}  // namespace easgate::powershell
