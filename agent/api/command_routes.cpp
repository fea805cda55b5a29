// The write side of the protocol: every mutation becomes a journaled command.
#include <charconv>

#include "agent/api/api_call.h"
#include "agent/api/api_json.h"
#include "protocol/validation.h"

namespace easgate::agent::api {
namespace {

using transport::HttpResponse;

// The {list} segment: allowed or blocked.
std::optional<protocol::ApiError> listProblem(const std::string& list) {
  if (list == "allowed" || list == "blocked") return std::nullopt;
  return protocol::ApiError{404, "not-found", "a mailbox has two lists: allowed and blocked",
                            "list"};
}

std::optional<protocol::ApiError> mailboxParamProblem(const std::string& mailbox) {
  if (auto p = protocol::mailboxProblem(mailbox)) {
    return protocol::badRequest("invalid-field", *p, "mailbox");
  }
  return std::nullopt;
}

}  // namespace

HttpResponse journalRefusal(const CommandError& e) {
  switch (e.code) {
    case CommandErrc::kConflict:
      return errorResponse({409, "idempotency-conflict", e.message, "Idempotency-Key"});
    case CommandErrc::kInvalid:
      return errorResponse(protocol::badRequest("invalid-field", e.message));
    case CommandErrc::kNotFound:
    case CommandErrc::kStore: break;
  }
  auto r = errorResponse(
      {503, "store-busy",
       "the command could not be journaled (" + e.message + "); it was not accepted: try again",
       ""});
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse ApiService::submit(Call& call, CommandRequest request) {
  const std::string_view key = call.request.header("idempotency-key");
  if (!key.empty()) {
    if (auto p = protocol::idempotencyKeyProblem(key)) {
      return errorResponse(protocol::badRequest("invalid-header", *p, "Idempotency-Key"));
    }
    request.idempotency_key = std::string(key);
  }
  request.requested_by = call.client;
  auto normalized = normalizeCommand(std::move(request));
  if (!normalized) {
    return errorResponse(protocol::badRequest("invalid-field", normalized.error().message));
  }
  auto submitted =
      journal_.submit(normalized.value(), clock_.nowMs() + options_.command_deadline_ms);
  if (!submitted) return journalRefusal(submitted.error());
  if (commands_submitted_) commands_submitted_();
  auto r = jsonResponse(202, commandJson(submitted->command));
  r.headers.emplace_back("Location", "/v1/commands/" + std::to_string(submitted->command.id));
  if (submitted->repeated) r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

HttpResponse ApiService::submitCommand(Call& call) {
  auto body = protocol::parseCommandSubmission(call.request.body);
  if (!body) return errorResponse(body.error());
  CommandRequest request;
  request.kind = *commandKindFromName(body->kind);  // parseCommandSubmission checked the name
  if (commandKindInfo(request.kind).admin && call.role < Role::kAdmin) {
    return deny(call,
                {403, "forbidden",
                 "the " + std::string(roleName(call.role)) + " role cannot " + body->kind +
                     "; it needs admin",
                 "kind"},
                body->kind, body->partnership.empty() ? body->mailbox : body->partnership);
  }
  request.mailbox = body->mailbox;
  request.device_id = body->device_id;
  request.partnership = body->partnership;
  return submit(call, std::move(request));
}

HttpResponse ApiService::putList(Call& call) {
  if (auto p = mailboxParamProblem(call.params[0])) return errorResponse(*p);
  if (auto p = listProblem(call.params[1])) return errorResponse(*p);
  auto ids = protocol::parseDeviceIdListBody(call.request.body);
  if (!ids) return errorResponse(ids.error());
  CommandRequest request;
  request.kind = call.params[1] == "allowed" ? CommandKind::kSetAllowed : CommandKind::kSetBlocked;
  request.mailbox = call.params[0];
  request.device_ids = std::move(ids).value();
  return submit(call, std::move(request));
}

HttpResponse ApiService::addToList(Call& call) {
  if (auto p = mailboxParamProblem(call.params[0])) return errorResponse(*p);
  if (auto p = listProblem(call.params[1])) return errorResponse(*p);
  auto id = protocol::parseDeviceIdBody(call.request.body);
  if (!id) return errorResponse(id.error());
  CommandRequest request;
  request.kind = call.params[1] == "allowed" ? CommandKind::kAllow : CommandKind::kBlock;
  request.mailbox = call.params[0];
  request.device_id = std::move(id).value();
  return submit(call, std::move(request));
}

HttpResponse ApiService::removeFromList(Call& call) {
  if (auto p = mailboxParamProblem(call.params[0])) return errorResponse(*p);
  if (auto p = listProblem(call.params[1])) return errorResponse(*p);
  if (auto p = protocol::deviceIdProblem(call.params[2])) {
    return errorResponse(protocol::badRequest("invalid-field", *p, "deviceId"));
  }
  CommandRequest request;
  request.kind = call.params[1] == "allowed" ? CommandKind::kRevoke : CommandKind::kUnblock;
  request.mailbox = call.params[0];
  request.device_id = call.params[2];
  return submit(call, std::move(request));
}

HttpResponse ApiService::getCommand(Call& call) {
  const std::string& text = call.params[0];
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 1) {
    return errorResponse(
        protocol::badRequest("invalid-field", "a command id is a positive integer", "id"));
  }
  auto command = journal_.get(id);
  if (!command) {
    if (command.error().code == CommandErrc::kNotFound) {
      return errorResponse({404, "not-found", "no command " + text, "id"});
    }
    return errorResponse({503, "store-busy", command.error().message, ""});
  }
  return jsonResponse(200, commandJson(command.value()));
}

}  // namespace easgate::agent::api
