#include "agent/api/api_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "agent/api/api_call.h"
#include "agent/api/api_json.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/store/schema.h"
#include "protocol/openapi_document.h"

namespace easgate::agent::api {
namespace {

using transport::HttpRequest;
using transport::HttpResponse;

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // past the leading '/'
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Whether `segments` fit `pattern`; the {} segments are collected (still encoded).
bool matches(std::string_view pattern, const std::vector<std::string>& segments,
             std::vector<std::string>& params) {
  const auto parts = splitPath(pattern);
  if (parts.size() != segments.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{}") {
      if (segments[i].empty()) return false;
      params.push_back(segments[i]);
    } else if (parts[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

bool isJson(std::string_view content_type) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  return media == "application/json";
}

}  // namespace

const std::vector<ApiService::Route>& ApiService::routes() {
  static const std::vector<Route> kRoutes = {
      {"GET", "/", Role::kReader, &ApiService::statusPage},
      {"GET", "/v1/health", Role::kReader, &ApiService::health},
      {"GET", "/v1/status", Role::kReader, &ApiService::status},
      {"GET", "/v1/devices", Role::kReader, &ApiService::devices},
      {"GET", "/v1/devices/{}", Role::kReader, &ApiService::device},
      {"GET", "/v1/mailboxes/{}/lists", Role::kReader, &ApiService::mailboxLists},
      {"PUT", "/v1/mailboxes/{}/lists/{}", Role::kOperator, &ApiService::putList},
      {"POST", "/v1/mailboxes/{}/lists/{}", Role::kOperator, &ApiService::addToList},
      {"DELETE", "/v1/mailboxes/{}/lists/{}/{}", Role::kOperator, &ApiService::removeFromList},
      {"POST", "/v1/commands", Role::kOperator, &ApiService::submitCommand},
      {"GET", "/v1/commands/{}", Role::kReader, &ApiService::getCommand},
      {"GET", "/v1/events", Role::kReader, &ApiService::events},
      {"GET", "/v1/audit", Role::kAdmin, &ApiService::audit},
      {"POST", "/v1/harvests", Role::kOperator, &ApiService::harvestNow},
      {"GET", "/v1/openapi.json", Role::kReader, &ApiService::openApi},
      {"GET", "/metrics", Role::kReader, &ApiService::metrics},
      {"GET", "/v1/policy", Role::kReader, &ApiService::getPolicy},
      {"POST", "/v1/policy/plan", Role::kOperator, &ApiService::planPolicy},
      {"GET", "/v1/policy/plans/{}/changes", Role::kOperator, &ApiService::planChanges},
      {"POST", "/v1/policy/apply", Role::kAdmin, &ApiService::applyPolicy},
      {"POST", "/v1/policy/rollback", Role::kAdmin, &ApiService::rollbackPolicy},
      {"GET", "/v1/policy/rules", Role::kReader, &ApiService::policyRules},
      {"POST", "/v1/policy/rules", Role::kAdmin, &ApiService::putPolicyRule},
      {"DELETE", "/v1/policy/rules/{}", Role::kAdmin, &ApiService::deletePolicyRule},
      {"PUT", "/v1/policy/settings", Role::kAdmin, &ApiService::putPolicySettings},
  };
  return kRoutes;
}

Result<std::vector<ReaderConnection>, store::StoreError> openReaders(
    const std::filesystem::path& data_directory, std::size_t count) {
  std::vector<ReaderConnection> out;
  for (std::size_t i = 0; i < count; ++i) {
    ReaderConnection c;
    auto db = store::openStore(store::storeFile(data_directory));
    if (!db) return db.error();
    c.store = std::move(db).value();
    auto directory = openDirectory(directoryFile(store::storeFile(data_directory)));
    if (!directory) return directory.error();
    c.directory = std::move(directory).value();
    auto inventory = InventoryStore::open(inventoryFile(store::storeFile(data_directory)));
    if (!inventory) return inventory.error();
    c.inventory = std::move(inventory).value();
    out.push_back(std::move(c));
  }
  return out;
}

ApiService::ApiService(std::vector<ReaderConnection> readers, CommandJournal& journal,
                       const Clock& clock, AccessPolicy policy, ApiOptions options,
                       std::function<BridgeCounters()> bridges,
                       std::function<void()> commands_submitted)
    : journal_(journal),
      clock_(clock),
      policy_(std::move(policy)),
      options_(std::move(options)),
      bridges_(std::move(bridges)),
      commands_submitted_(std::move(commands_submitted)),
      limiter_(clock, options_.requests_per_second, options_.burst),
      started_ms_(clock.nowMs()),
      long_polls_(options_.long_polls_per_client, options_.long_polls) {
  for (auto& connection : readers) {
    auto reader = std::make_unique<Reader>();
    reader->connection = std::move(connection);
    readers_.push_back(std::move(reader));
  }
}

HttpResponse ApiService::handle(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  Call call{request, Role::kNone, {}, {}, {}};
  std::string route = "unmatched";
  HttpResponse response = dispatch(call, route);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  http_metrics_.record(request.method, route, response.status, seconds);
  return response;
}

HttpResponse ApiService::dispatch(Call& call, std::string& route_label) {
  const HttpRequest& request = call.request;
  call.role = policy_.roleOf(request.peer);
  call.client = clientLabel(request.peer);
  if (call.role == Role::kNone) {
    return deny(call, {401, "unauthenticated",
                       request.peer.authenticated
                           ? "the client certificate '" + request.peer.subject +
                                 "' is not mapped to a role in the agent's configuration"
                           : std::string("a client certificate is required"),
                       ""});
  }
  if (const std::int64_t wait_ms = limiter_.take(call.client); wait_ms > 0) {
    auto r = errorResponse({429, "rate-limited",
                            "too many requests from this client; try again after Retry-After "
                            "seconds",
                            ""});
    r.headers.emplace_back("Retry-After", std::to_string((wait_ms + 999) / 1000));
    return r;
  }

  const std::string_view target = request.target;
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (path.empty() || path.front() != '/') {
    return errorResponse({400, "bad-path", "the request target must be an absolute path", ""});
  }
  if (question != std::string_view::npos) {
    auto query = protocol::parseQueryString(target.substr(question + 1));
    if (!query) return errorResponse(query.error());
    call.query = std::move(query).value();
  }
  const auto segments = splitPath(path);
  std::vector<std::string> raw_params;
  std::string allowed_methods;
  for (const Route& r : routes()) {
    if (!matches(r.pattern, segments, raw_params)) continue;
    if (request.method != r.method) {
      allowed_methods += (allowed_methods.empty() ? "" : ", ") + std::string(r.method);
      continue;
    }
    route_label = r.pattern;
    if (call.role < r.role) {
      return deny(call, {403, "forbidden",
                         "the " + std::string(roleName(call.role)) +
                             " role cannot do this; it needs " + std::string(roleName(r.role)),
                         ""});
    }
    for (const auto& raw : raw_params) {
      auto decoded = protocol::percentDecode(raw, false);
      if (!decoded) {
        return errorResponse(
            {400, "bad-path", "a path segment has a malformed percent escape or is not UTF-8", ""});
      }
      call.params.push_back(std::move(*decoded));
    }
    // A body must be JSON; a POST with none at all (curl -X POST .../v1/harvests) needs no type.
    if ((request.method == "POST" || request.method == "PUT") && !request.body.empty() &&
        !isJson(request.header("content-type"))) {
      return errorResponse(
          {415, "unsupported-media-type", "the body must be application/json", ""});
    }
    return (this->*r.handler)(call);
  }
  if (!allowed_methods.empty()) {
    auto r = errorResponse({405, "method-not-allowed",
                            request.method + " is not allowed here; use " + allowed_methods, ""});
    r.headers.emplace_back("Allow", allowed_methods);
    return r;
  }
  return errorResponse({404, "not-found", "no such resource: " + std::string(path), ""});
}

HttpResponse ApiService::deny(Call& call, const protocol::ApiError& error,
                              const std::string& action, const std::string& target) {
  const HttpRequest& r = call.request;
  spdlog::warn("9090: {} {} {} from {} as '{}' (sha256 {}): {}", error.status, r.method, r.target,
               r.peer.address, r.peer.authenticated ? r.peer.subject : "no certificate",
               r.peer.thumbprint.empty() ? "-" : r.peer.thumbprint, error.message);
  if (r.method != "GET" && r.method != "HEAD") {
    const std::string path = r.target.substr(0, r.target.find('?'));
    std::string what = action.empty() ? r.method + " " + path : action;
    std::string on = target.empty() ? path : target;
    // A command refused for the role alone: the trail names the command (a reader's wipe, of
    // that partnership), when the body says it.
    if (action.empty() && r.method == "POST" && path == "/v1/commands") {
      if (auto body = protocol::parseCommandSubmission(r.body)) {
        what = body->kind;
        on = body->partnership.empty() ? body->mailbox : body->partnership;
      }
    }
    if (auto recorded = journal_.recordDenied(call.client, what, on, error.message); !recorded) {
      spdlog::error("9090: the audit trail did not take a denied request: {}",
                    recorded.error().message);
    }
  }
  return errorResponse(error);
}

HttpResponse ApiService::health(Call&) {
  return jsonResponse(200, R"({"status":"ok","version":")" + options_.version + "\"}");
}

HttpResponse ApiService::openApi(Call&) {
  return jsonResponse(200, std::string(protocol::openApiDocument()));
}

void ApiService::eventsWritten() { long_polls_.wakeAll(); }

void ApiService::shutdown() {
  shutting_down_ = true;
  long_polls_.wakeAll();
}

namespace {

std::string eventsBody(const std::vector<InventoryEvent>& events, std::int64_t after) {
  std::string body = "{\"events\":[";
  std::int64_t cursor = after;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) body += ',';
    body += eventJson(events[i]);
    cursor = events[i].sequence;
  }
  body += "],\"cursor\":" + std::to_string(cursor) + "}";
  return body;
}

// 410 when the reader missed events: it reads the inventory again, then the feed from the
// cursor the answer gives.
HttpResponse eventsAnswer(const EventsRead& read, std::int64_t after) {
  if (read.forgotten_cursor) {
    const protocol::ApiError gone{
        410, "events-forgotten",
        "the events after " + std::to_string(after) + " up to " +
            std::to_string(*read.forgotten_cursor) +
            " were forgotten (the feed keeps harvest.history_days of them): read the inventory "
            "again (GET /v1/devices), then the feed after the cursor this answer gives",
        "after"};
    return jsonResponse(gone.status, protocol::encodeError(gone, read.forgotten_cursor));
  }
  return jsonResponse(200, eventsBody(read.events, after));
}

}  // namespace

// A long-poll on the event feed: answered by the listener when events come, or empty at the
// deadline, without a worker thread waiting for it.
class ApiService::EventsWait final : public transport::PendingResponse {
 public:
  EventsWait(ApiService& api, protocol::EventsQuery query,
             std::chrono::steady_clock::time_point deadline, std::shared_ptr<void> place)
      : api_(api), query_(std::move(query)), deadline_(deadline), place_(std::move(place)) {}

  std::chrono::steady_clock::time_point deadline() const override { return deadline_; }
  // Events another process wrote to the inventory (an export --live) wake no one: look now and
  // then.
  std::chrono::milliseconds recheckEvery() const override { return std::chrono::seconds(1); }
  std::shared_ptr<void> subscribe(std::function<void()> wake) override {
    return api_.long_polls_.subscribe(std::move(wake));
  }
  std::optional<transport::HttpResponse> attempt(bool final) override {
    auto found = api_.withReader(
        [&](ReaderConnection& c) { return c.inventory->readEvents(query_.after, query_.limit); });
    if (!found) return storeFailure(found.error());
    if (found->events.empty() && !found->forgotten_cursor && !final && !api_.shutting_down_) {
      return std::nullopt;
    }
    return eventsAnswer(found.value(), query_.after);
  }

 private:
  ApiService& api_;
  const protocol::EventsQuery query_;
  const std::chrono::steady_clock::time_point deadline_;
  std::shared_ptr<void> place_;  // this wait's place among the client's and the agent's
};

HttpResponse ApiService::events(Call& call) {
  auto query = protocol::parseEventsQuery(call.query);
  if (!query) return errorResponse(query.error());
  auto found = withReader(
      [&](ReaderConnection& c) { return c.inventory->readEvents(query->after, query->limit); });
  if (!found) return storeFailure(found.error());
  if (!found->events.empty() || found->forgotten_cursor || query->wait_seconds <= 0 ||
      shutting_down_) {
    return eventsAnswer(found.value(), query->after);
  }
  auto place = long_polls_.admit(call.client);
  if (!place) {
    auto r = errorResponse({429, "too-many-long-polls",
                            "this client, or the agent, has as many event long-polls waiting as "
                            "it may; end one, or ask without wait",
                            "wait"});
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  HttpResponse waiting;
  waiting.pending = std::make_shared<EventsWait>(
      *this, query.value(),
      std::chrono::steady_clock::now() + std::chrono::seconds(query->wait_seconds),
      std::move(place));
  return waiting;
}

}  // namespace easgate::agent::api
