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
};

// Parses the command line and runs the subcommand it names; returns the process exit code.
int runCli(int argc, char** argv);

}  // namespace easgate::service
