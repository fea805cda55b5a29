// GET /v1/audit: who asked for what, from which certificate, when, and how it ended.
#include "agent/api/api_call.h"
#include "agent/api/api_json.h"
#include "agent/audit/audit_log.h"

namespace easgate::agent::api {

using transport::HttpResponse;

HttpResponse ApiService::audit(Call& call) {
  auto query = protocol::parseAuditQuery(call.query);
  if (!query) return errorResponse(query.error());
  auto entries =
      withReader([&](ReaderConnection& c) { return AuditLog(*c.store).list(query.value()); });
  if (!entries) return storeFailure(entries.error());
  return jsonResponse(200, auditPageJson(entries.value(), query->limit));
}

}  // namespace easgate::agent::api
