// Fuzzes the way a request comes in: bytes through Beast's HTTP parser, with the listener's
// limits, then routing, roles and validation in the API service over a real store. Beyond "no
// crash": every answer has a status a client can act on, and every JSON answer is JSON.
#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "agent/api/api_service.h"
#include "agent/audit/audit_log.h"
#include "agent/commands/command_journal.h"
#include "agent/store/schema.h"
#include "common/json/json_value.h"

namespace {

using namespace easgate;

struct Agent {
  Agent() {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("easgate-http-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    db = agent::store::openStore(agent::store::storeFile(dir)).value();
    audit = std::make_unique<agent::AuditLog>(*db);
    journal = std::make_unique<agent::CommandJournal>(*db, *audit, clock);
    agent::api::ApiOptions options{"fuzz", "none", 3600'000, 0, 1};
    api = std::make_unique<agent::api::ApiService>(
        agent::api::openReaders(dir, 1).value(), *journal, clock,
        agent::api::AccessPolicy({{"CN=reader", "", agent::api::Role::kReader},
                                  {"CN=operator", "", agent::api::Role::kOperator},
                                  {"CN=admin", "", agent::api::Role::kAdmin}},
                                 agent::api::Role::kNone),
        options, nullptr, nullptr);
  }
  agent::SystemClock clock;
  std::unique_ptr<agent::store::Database> db;
  std::unique_ptr<agent::AuditLog> audit;
  std::unique_ptr<agent::CommandJournal> journal;
  std::unique_ptr<agent::api::ApiService> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Agent agent;
  if (size == 0) return 0;
  // The first byte picks who asks; the rest is what arrives on the connection.
  static const char* kWho[] = {"", "reader", "operator", "admin"};
  const char* who = kWho[data[0] % 4];
  auto parsed = agent::transport::parseHttpRequest(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), 256 * 1024);
  if (!parsed) return 0;  // the listener answers these itself (400, 413, 431)
  agent::transport::HttpRequest request = std::move(*parsed);
  request.peer = {*who != '\0', *who ? std::string("CN=") + who : "", who, std::string(64, 'a'),
                  "127.0.0.1"};
  agent::transport::HttpResponse response = agent.api->handle(request);
  if (response.pending) {
    auto now = response.pending->attempt(/*final=*/true);  // a long-poll, answered at once
    if (!now) std::abort();
    response = std::move(*now);
  }
  if (response.status < 200 || response.status > 599) std::abort();
  if (response.content_type == "application/json" && !json::parseJson(response.body).ok()) {
    std::abort();
  }
  return 0;
}
