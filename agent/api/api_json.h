#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/audit/audit_log.h"
#include "agent/commands/command.h"
#include "agent/inventory/inventory_store.h"
#include "agent/store/database.h"
#include "agent/transport/http_server.h"
#include "protocol/api_error.h"

// The bodies of the /v1 protocol's answers, as protocol/openapi.json defines them.
namespace easgate::agent::api {

transport::HttpResponse jsonResponse(int status, std::string body);
transport::HttpResponse errorResponse(const protocol::ApiError& error);
// 503 when the store is busy (try again), 500 otherwise; the message names the store.
transport::HttpResponse storeFailure(const store::StoreError& error);

std::string commandJson(const CommandRecord& command);
// A command the journal did not take: 409 for a reused idempotency key, 400 for an invalid
// one, 503 (try again) when the store refused (agent/api/command_routes.cpp).
transport::HttpResponse journalRefusal(const CommandError& error);
// A current partnership with when the agent first and last saw it (appendDeviceJson).
std::string deviceJson(const StoredDevice& device);
std::string eventJson(const InventoryEvent& event);
// A page of the audit trail, newest first: nextBefore continues it (null at the oldest). The
// same JSON for GET /v1/audit and `easgate audit list --format json`.
std::string auditPageJson(const std::vector<AuditEntry>& entries, std::size_t limit);

}  // namespace easgate::agent::api
