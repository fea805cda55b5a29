#pragma once

namespace easgate::service {

// Process exit codes of the easgate command, stable for scripts.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,         // a bug: please report it
  kExitUsage = 2,            // the command line is wrong; see --help
  kExitInputUnreadable = 3,  // an input file cannot be opened or read
  kExitInputInvalid = 4,     // an input file is not what it should be (the message says where)
  kExitOutputFailed = 5,     // the output cannot be written; nothing was replaced
  kExitRefused = 6,          // ctl: the agent answered with an error (printed)
  kExitUnreachable = 7,      // ctl: no answer from the agent (TLS refused, no connection)
  kExitUnhealthy = 8,        // doctor: a check failed
};

// Parses the command line and runs the subcommand it names; returns the process exit code.
int runCli(int argc, char** argv);

}  // namespace easgate::service
