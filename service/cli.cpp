#include "service/cli.h"

#include "service/console.h"

#include <exception>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "common/threads/priority.h"
#include "service/agent_command.h"
#include "service/audit_command.h"
#include "service/ctl_command.h"
#include "service/demo_command.h"
#include "service/doctor_command.h"
#include "service/export_command.h"
#include "service/pki_command.h"
#include "service/run_command.h"

#ifndef EASGATE_VERSION
#define EASGATE_VERSION "unknown"
#endif

namespace easgate::service {

int runCli(int argc, char** argv) {
  CLI::App app{
      "easgate: the Exchange ActiveSync policy agent.\n"
      "It keeps Exchange's ActiveSync device lists and wipes in step with what an MDM\n"
      "server decides, and reports the device inventory.",
      "easgate"};
  app.set_version_flag("--version", std::string("easgate ") + EASGATE_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'easgate <command> --help' for a command's options.");

  ExportCommandOptions export_options;
  CLI::App* export_cmd = addExportCommand(app, export_options);
  AgentCommandOptions agent_options;
  CLI::App* agent_cmd = addAgentCommand(app, agent_options);
  AuditCommandOptions audit_options;
  const AuditCommands audit_cmds = addAuditCommand(app, audit_options);
  RunCommandOptions run_options;
  CLI::App* run_cmd = addRunCommand(app, run_options);
  CtlOptions ctl_options;
  CLI::App* ctl_cmd = addCtlCommand(app, ctl_options);
  DoctorOptions doctor_options;
  CLI::App* doctor_cmd = addDoctorCommand(app, doctor_options);
  DemoOptions demo_options;
  CLI::App* demo_cmd = addDemoCommand(app, demo_options);
  PkiCommandOptions pki_options;
  CLI::App* pki_revoke = addPkiCommand(app, pki_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "easgate: " << e.what() << "\nRun 'easgate --help' for usage.\n";
    return kExitUsage;
  }

  // Until a command sets up its own logging (run and agent do), the library's messages go to
  // standard error, warnings and worse only: standard output is for what a command prints (an
  // export's CSV, ctl's JSON), which a log line must never break into.
  auto console = spdlog::stderr_color_mt("easgate-cli");
  console->set_level(spdlog::level::warn);
  spdlog::set_default_logger(console);

  try {
    if (export_cmd->parsed()) return runExportCommand(export_options);
    if (audit_cmds.verify->parsed()) return runAuditVerify(audit_options);
    if (audit_cmds.list->parsed()) return runAuditList(audit_options);
    // The agent's own files (store, journal, logs, keys) are private, whatever the umask.
    if (agent_cmd->parsed() || run_cmd->parsed() || demo_cmd->parsed()) {
      keepNewFilesPrivate();
      // Before any thread starts, so that every one inherits it: the agent's threads take a
      // core from a harvest as soon as they wake (its harvest's thread gives the slice back when
      // it lowers its priority: agent/agent_loop.cpp). Where the system does not do it, the
      // system needs none.
      (void)threads::preferPromptWakeups();
    }
    if (agent_cmd->parsed()) return runAgentCommand(agent_options);
    if (run_cmd->parsed()) return runRunCommand(run_options);
    if (ctl_cmd->parsed()) return runCtlCommand(*ctl_cmd, ctl_options);
    if (doctor_cmd->parsed()) return runDoctorCommand(doctor_options);
    if (demo_cmd->parsed()) return runDemoCommand(demo_options);
    if (pki_revoke->parsed()) return runPkiRevoke(pki_options);
  } catch (const std::exception& e) {
    std::cerr << "easgate: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace easgate::service
