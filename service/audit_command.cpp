#include "service/audit_command.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"

namespace easgate::service {

CLI::App* addAuditCommand(CLI::App& app, AuditCommandOptions& options) {
  CLI::App* audit = app.add_subcommand("audit", "Check the audit log of the agent's store");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify", "Verify that no audit entry was changed, removed or reordered");
  verify->footer(
      "Every entry's SHA-256 covers the entry before it, so any change breaks the chain from\n"
      "there on. Removing the newest entries leaves a valid but shorter chain: note the head\n"
      "hash this prints, and pass it to --expect-head next time to catch that too.\n\n"
      "Exit codes: 0 intact, 3 the store cannot be opened, 4 the log was tampered with.");
  options.data_directory = defaultDataDirectory();
  verify->add_option("--data-dir", options.data_directory, "The agent's data directory")
      ->capture_default_str();
  verify->add_option("--expect-head", options.expect_head,
                     "A head hash printed by an earlier verify; it must still be in the log");
  return verify;
}

int runAuditVerify(const AuditCommandOptions& options) {
  std::optional<agent::Sha256> expected;
  if (!options.expect_head.empty()) {
    expected = agent::sha256FromHex(options.expect_head);
    if (!expected) {
      std::cerr << "easgate: --expect-head needs 64 hex digits\n";
      return kExitUsage;
    }
  }
  const auto file = agent::store::storeFile(options.data_directory);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    std::cerr << "easgate: no store at " << file.string() << " (see --data-dir)\n";
    return kExitInputUnreadable;
  }
  auto store = openDataStore(options.data_directory);
  if (!store) {
    std::cerr << "easgate: " << store.error() << "\n";
    return kExitInputUnreadable;
  }
  agent::AuditLog log(*store.value());
  auto verified = log.verify();
  if (!verified) {
    std::cerr << "easgate: " << verified.error().message << "\n";
    return kExitInputUnreadable;
  }
  if (!verified->intact) {
    std::cout << "audit log TAMPERED: " << verified->problem << " (" << verified->entries
              << " entries read)\n";
    return kExitInputInvalid;
  }
  if (expected && *expected != verified->head) {
    auto at = log.sequenceOf(*expected);
    if (!at) {
      std::cerr << "easgate: " << at.error().message << "\n";
      return kExitInputUnreadable;
    }
    if (!at.value()) {
      std::cout << "audit log TAMPERED: the expected head " << options.expect_head
                << " is not in the log: entries after it were removed, or the log was "
                   "rewritten\n";
      return kExitInputInvalid;
    }
    std::cout << "the expected head is entry " << *at.value() << "; the log has grown since\n";
  }
  std::cout << "audit log intact: " << verified->entries << " entries, head "
            << agent::toHex(verified->head) << "\n";
  return kExitOk;
}

}  // namespace easgate::service
