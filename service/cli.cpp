#include "service/cli.h"

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "service/agent_command.h"
#include "service/audit_command.h"
#include "service/export_command.h"

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
  CLI::App* audit_verify = addAuditCommand(app, audit_options);

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

  try {
    if (export_cmd->parsed()) return runExportCommand(export_options);
    if (audit_verify->parsed()) return runAuditVerify(audit_options);
    if (agent_cmd->parsed()) return runAgentCommand(agent_options);
  } catch (const std::exception& e) {
    std::cerr << "easgate: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace easgate::service
