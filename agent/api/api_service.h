#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/api/access_policy.h"
#include "agent/api/http_metrics.h"
#include "agent/api/long_polls.h"
#include "agent/api/rate_limiter.h"
#include "agent/commands/command_journal.h"
#include "agent/harvest/harvester.h"
#include "agent/inventory/inventory_store.h"
#include "agent/store/database.h"
#include "agent/time/clock.h"
#include "agent/transport/http_server.h"
#include "protocol/api_error.h"
#include "protocol/requests.h"

// The /v1 protocol (protocol/openapi.json) on top of the agent: routes each request, checks the
// client's role and rate, validates it with protocol/, and answers from the store or the
// command journal. It knows nothing of the HTTP library.
namespace easgate::agent::policy {
struct Plan;
struct PlanWindow;
}  // namespace easgate::agent::policy

namespace easgate::agent::api {

struct ApiOptions {
  std::string version;
  std::string exchange;  // the Exchange kind, for /v1/status
  // How long a command is retried before it fails for good.
  std::int64_t command_deadline_ms = 7LL * 24 * 3600 * 1000;
  double requests_per_second = 100;  // per client; 0: no limit
  double burst = 200;
  // Long-polls waiting at once (GET /v1/events?wait=...): per client and in all; more get 429.
  std::size_t long_polls_per_client = 256;
  std::size_t long_polls = 4096;
};

// The bridge pool's counters, for /v1/status and /metrics.
struct BridgeCounters {
  std::size_t capacity = 0;
  std::size_t started = 0;
  std::size_t restarts = 0;
  std::size_t requests = 0;
  std::size_t busy = 0;
};

// A reader's connections: to the store (commands, the MDM's lists), to the mailbox directory's
// file and to the inventory.
struct ReaderConnection {
  std::unique_ptr<store::Database> store;
  std::unique_ptr<store::Database> directory;  // the mailbox directory's file
  std::unique_ptr<InventoryStore> inventory;
};

// `count` reader connections to the data directory's store, mailbox directory and inventory
// (each migrated).
Result<std::vector<ReaderConnection>, store::StoreError> openReaders(
    const std::filesystem::path& data_directory, std::size_t count);

class ApiService {
 public:
  // `readers`: connections of its own for queries (several, so readers do not queue behind one
  // another). `commands_submitted` is called after a command is journaled.
  ApiService(std::vector<ReaderConnection> readers, CommandJournal& journal, const Clock& clock,
             AccessPolicy policy, ApiOptions options, std::function<BridgeCounters()> bridges,
             std::function<void()> commands_submitted);

  transport::HttpResponse handle(const transport::HttpRequest& request);

  // New events may be in the store: wakes waiting long-polls.
  void eventsWritten();
  // Who runs a harvest asked for with POST /v1/harvests (the agent's loop); without one, that
  // route answers 503.
  void onHarvestRequested(std::function<void(HarvestKind)> request) {
    harvest_requested_ = std::move(request);
  }
  // Appends what the running program knows to GET /metrics (process, certificates, harvest
  // failures), in the Prometheus text format.
  void onMetrics(std::function<void(std::string&)> more) { more_metrics_ = std::move(more); }
  // The server is stopping: wakes every long-poll and makes new ones answer at once.
  void shutdown();
  // Long-polls waiting now.
  std::size_t longPolls() const { return long_polls_.waiting(); }

 private:
  struct Call;  // one request being answered
  using Handler = transport::HttpResponse (ApiService::*)(Call&);
  struct Route {
    const char* method;
    const char* pattern;  // "/v1/devices/{}": {} matches one path segment
    Role role;
    Handler handler;
  };
  static const std::vector<Route>& routes();

  transport::HttpResponse dispatch(Call& call, std::string& route_label);
  // A 401 or 403: logged with who and what; a refused mutation also goes into the audit trail.
  transport::HttpResponse deny(Call& call, const protocol::ApiError& error,
                               const std::string& action = {}, const std::string& target = {});

  transport::HttpResponse health(Call& call);
  transport::HttpResponse status(Call& call);
  transport::HttpResponse devices(Call& call);
  transport::HttpResponse device(Call& call);
  transport::HttpResponse mailboxLists(Call& call);
  transport::HttpResponse putList(Call& call);
  transport::HttpResponse addToList(Call& call);
  transport::HttpResponse removeFromList(Call& call);
  transport::HttpResponse submitCommand(Call& call);
  transport::HttpResponse getCommand(Call& call);
  transport::HttpResponse events(Call& call);
  transport::HttpResponse audit(Call& call);
  transport::HttpResponse harvestNow(Call& call);
  transport::HttpResponse openApi(Call& call);
  transport::HttpResponse metrics(Call& call);
  transport::HttpResponse statusPage(Call& call);
  transport::HttpResponse getPolicy(Call& call);
  transport::HttpResponse planPolicy(Call& call);
  transport::HttpResponse planChanges(Call& call);
  transport::HttpResponse applyPolicy(Call& call);
  transport::HttpResponse rollbackPolicy(Call& call);
  transport::HttpResponse policyRules(Call& call);
  transport::HttpResponse putPolicyRule(Call& call);
  transport::HttpResponse deletePolicyRule(Call& call);
  transport::HttpResponse putPolicySettings(Call& call);

  // Journals a request for the caller and answers 202 with the command.
  transport::HttpResponse submit(Call& call, CommandRequest request);

  // Runs `query` on a free reader's connections (ReaderConnection&).
  template <class F>
  auto withReader(F&& query);

  struct Reader {
    ReaderConnection connection;
    std::mutex mutex;
  };
  std::vector<std::unique_ptr<Reader>> readers_;
  std::size_t next_reader_ = 0;
  std::mutex readers_mutex_;

  CommandJournal& journal_;
  const Clock& clock_;
  AccessPolicy policy_;
  ApiOptions options_;
  std::function<BridgeCounters()> bridges_;
  std::function<void()> commands_submitted_;
  std::function<void(HarvestKind)> harvest_requested_;
  std::function<void(std::string&)> more_metrics_;
  RateLimiter limiter_;
  HttpMetrics http_metrics_;
  std::int64_t started_ms_;

  // Plans made and not yet applied (agent/api/policy_routes.cpp): what was asked, and the
  // digest an apply must find again. In memory, the last few: a plan is a preview.
  struct StoredPlan {
    std::string id;
    protocol::PolicyPlanRequest target;
    std::string digest;
    std::int64_t created_ms = 0;
    std::string requested_by;
  };
  std::mutex plans_mutex_;
  std::deque<StoredPlan> plans_;
  std::optional<StoredPlan> storedPlan(const std::string& id);
  // The stored plan made again from the inventory as it is now, keeping the changes of `window`,
  // handed to `answer`; a 409 (stale-plan) instead when it would no longer do the same.
  transport::HttpResponse withPlanAgain(
      const StoredPlan& stored, policy::PlanWindow window,
      const std::function<transport::HttpResponse(const policy::Plan&)>& answer);

  class EventsWait;  // a long-poll on the event feed
  LongPolls long_polls_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace easgate::agent::api
