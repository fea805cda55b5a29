// The read side of the protocol: status, metrics, the inventory, a device, a mailbox's lists.
#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

#include <spdlog/spdlog.h>

#include "agent/api/api_call.h"
#include "agent/api/api_json.h"
#include "agent/api/http_metrics.h"
#include "agent/api/status_page.h"
#include "agent/inventory/object_text.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "common/json/json_writer.h"
#include "common/text/ascii.h"
#include "common/time/utc_time.h"
#include "protocol/validation.h"

namespace easgate::agent::api {
namespace {

using transport::HttpResponse;

constexpr std::array<CommandState, 5> kStates = {CommandState::kQueued, CommandState::kRunning,
                                                 CommandState::kRetrying, CommandState::kSucceeded,
                                                 CommandState::kFailed};

struct Status {
  InventorySummary inventory;
  std::map<CommandState, std::int64_t> commands;
};

Result<Status, store::StoreError> readStatus(ReaderConnection& c) {
  Status s;
  auto inventory = c.inventory->summary();
  if (!inventory) return inventory.error();
  s.inventory = std::move(inventory).value();
  auto commands = commandCountsByState(*c.store);
  if (!commands) return commands.error();
  s.commands = std::move(commands).value();
  return s;
}

void writeHarvest(json::JsonWriter& w, const std::optional<HarvestRun>& run) {
  if (!run) return w.null();
  w.beginObject();
  w.key("startedAt");
  w.string(utc::formatUnixMs(run->started_ms));
  w.key("finishedAt");
  w.string(utc::formatUnixMs(run->finished_ms));
  w.key("devices");
  w.number(run->devices);
  w.key("calls");
  w.number(run->calls);
  w.key("failedMailboxes");
  w.number(run->failed_mailboxes);
  w.endObject();
}

}  // namespace

HttpResponse ApiService::status(Call&) {
  auto s = withReader([](ReaderConnection& c) { return readStatus(c); });
  if (!s) return storeFailure(s.error());
  const BridgeCounters b = bridges_ ? bridges_() : BridgeCounters{};
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("version");
  w.string(options_.version);
  w.key("exchange");
  w.string(options_.exchange);
  w.key("startedAt");
  w.string(utc::formatUnixMs(started_ms_));
  w.key("devices");
  w.number(s->inventory.devices);
  w.key("commands");
  w.beginObject();
  for (CommandState state : kStates) {
    w.key(commandStateName(state));
    w.number(s->commands[state]);
  }
  w.endObject();
  w.key("bridges");
  w.beginObject();
  w.key("capacity");
  w.number(static_cast<std::int64_t>(b.capacity));
  w.key("started");
  w.number(static_cast<std::int64_t>(b.started));
  w.key("restarts");
  w.number(static_cast<std::int64_t>(b.restarts));
  w.key("requests");
  w.number(static_cast<std::int64_t>(b.requests));
  w.endObject();
  w.key("harvests");
  w.beginObject();
  w.key("full");
  writeHarvest(w, s->inventory.last_full);
  w.key("delta");
  writeHarvest(w, s->inventory.last_delta);
  w.endObject();
  w.endObject();
  return jsonResponse(200, std::move(out));
}

// GET /: the status page, for a person in a browser (agent/api/status_page.h).
HttpResponse ApiService::statusPage(Call&) {
  constexpr int kStaleDays = 30;
  constexpr std::size_t kListed = 50;
  StatusPage page;
  page.now_ms = clock_.nowMs();
  const std::string stale_before =
      utc::formatUnixMs(page.now_ms - std::int64_t{kStaleDays} * 86'400'000);
  auto read = withReader([&](ReaderConnection& c) -> Result<void, store::StoreError> {
    auto s = readStatus(c);
    if (!s) return s.error();
    auto overview = c.inventory->overview(stale_before, kListed);
    if (!overview) return overview.error();
    page.devices = s->inventory.devices;
    page.last_full = s->inventory.last_full;
    page.last_delta = s->inventory.last_delta;
    for (CommandState state : kStates) {
      page.commands.emplace_back(std::string(commandStateName(state)), s->commands[state]);
    }
    page.overview = std::move(overview).value();
    return {};
  });
  if (!read) return storeFailure(read.error());
  page.version = options_.version;
  page.exchange = options_.exchange;
  page.started_ms = started_ms_;
  page.stale_days = kStaleDays;
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = renderStatusPage(page);
  // Nothing but the page and its inline style; not to be framed or cached.
  response.headers = {
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
  return response;
}

// POST /v1/harvests: harvest now, rather than at the next timer. The harvest runs on the
// agent's harvest thread after one already running; GET /v1/status shows it when it has
// finished (its startedAt at or after requestedAt).
HttpResponse ApiService::harvestNow(Call& call) {
  auto kind = protocol::parseHarvestRequest(call.request.body);
  if (!kind) return errorResponse(kind.error());
  if (!harvest_requested_) {
    return errorResponse({503, "no-harvests", "this agent runs no harvests", ""});
  }
  const std::int64_t now = clock_.nowMs();
  harvest_requested_(kind.value() == "full" ? HarvestKind::kFull : HarvestKind::kDelta);
  spdlog::info("9090: a {} harvest requested by {}", kind.value(), call.client);
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("kind");
  w.string(kind.value());
  w.key("state");
  w.string("requested");
  w.key("requestedAt");
  w.string(utc::formatUnixMs(now));
  w.endObject();
  auto r = jsonResponse(202, std::move(out));
  r.headers.emplace_back("Location", "/v1/status");
  return r;
}

HttpResponse ApiService::metrics(Call&) {
  auto s = withReader([](ReaderConnection& c) { return readStatus(c); });
  if (!s) return storeFailure(s.error());
  const BridgeCounters b = bridges_ ? bridges_() : BridgeCounters{};
  std::string out;
  out += "# HELP easgate_build_info The agent's version.\n# TYPE easgate_build_info gauge\n";
  out += "easgate_build_info{version=\"" + options_.version + "\"} 1\n";
  out += "# HELP easgate_commands Commands in the journal, by state.\n";
  out += "# TYPE easgate_commands gauge\n";
  for (CommandState state : kStates) {
    out += "easgate_commands{state=\"" + std::string(commandStateName(state)) + "\"} " +
           std::to_string(s->commands[state]) + "\n";
  }
  out += "# HELP easgate_devices Partnerships in the inventory.\n# TYPE easgate_devices gauge\n";
  out += "easgate_devices " + std::to_string(s->inventory.devices) + "\n";
  out += "# HELP easgate_bridges Bridge pool: capacity, busy now.\n# TYPE easgate_bridges gauge\n";
  out += "easgate_bridges{kind=\"capacity\"} " + std::to_string(b.capacity) + "\n";
  out += "easgate_bridges{kind=\"busy\"} " + std::to_string(b.busy) + "\n";
  out += "# HELP easgate_bridge_events_total Bridges started and replaced; requests run.\n";
  out += "# TYPE easgate_bridge_events_total counter\n";
  out += "easgate_bridge_events_total{event=\"started\"} " + std::to_string(b.started) + "\n";
  out += "easgate_bridge_events_total{event=\"replaced\"} " + std::to_string(b.restarts) + "\n";
  out += "easgate_bridge_events_total{event=\"request\"} " + std::to_string(b.requests) + "\n";
  out += "# HELP easgate_harvest_duration_seconds Harvest durations, by kind.\n";
  out += "# TYPE easgate_harvest_duration_seconds summary\n";
  const InventorySummary& inv = s->inventory;
  for (const auto& [kind, seconds, count] :
       {std::tuple{"full", inv.full_seconds, inv.full_count},
        std::tuple{"delta", inv.delta_seconds, inv.delta_count}}) {
    out += "easgate_harvest_duration_seconds_sum{kind=\"" + std::string(kind) + "\"} " +
           prometheusNumber(seconds) + "\n";
    out += "easgate_harvest_duration_seconds_count{kind=\"" + std::string(kind) + "\"} " +
           std::to_string(count) + "\n";
  }
  out += "# HELP easgate_harvest_last_duration_seconds The last harvest's duration, by kind.\n";
  out += "# TYPE easgate_harvest_last_duration_seconds gauge\n";
  for (const auto& [kind, run] :
       {std::pair{"full", inv.last_full}, std::pair{"delta", inv.last_delta}}) {
    if (!run) continue;
    out += "easgate_harvest_last_duration_seconds{kind=\"" + std::string(kind) + "\"} " +
           prometheusNumber(static_cast<double>(run->finished_ms - run->started_ms) / 1000.0) +
           "\n";
  }
  out +=
      "# HELP easgate_harvest_last_success_timestamp_seconds When the last harvest that "
      "succeeded finished, by kind (Unix time).\n";
  out += "# TYPE easgate_harvest_last_success_timestamp_seconds gauge\n";
  for (const auto& [kind, run] :
       {std::pair{"full", inv.last_full}, std::pair{"delta", inv.last_delta}}) {
    if (!run) continue;
    out += "easgate_harvest_last_success_timestamp_seconds{kind=\"" + std::string(kind) + "\"} " +
           prometheusNumber(static_cast<double>(run->finished_ms) / 1000.0) + "\n";
  }
  out +=
      "# HELP easgate_harvest_failed_mailboxes Mailboxes the last harvest skipped because their "
      "statistics could not be read (the event feed names them), by kind.\n";
  out += "# TYPE easgate_harvest_failed_mailboxes gauge\n";
  for (const auto& [kind, run] :
       {std::pair{"full", inv.last_full}, std::pair{"delta", inv.last_delta}}) {
    if (!run) continue;
    out += "easgate_harvest_failed_mailboxes{kind=\"" + std::string(kind) + "\"} " +
           std::to_string(run->failed_mailboxes) + "\n";
  }
  out +=
      "# HELP easgate_long_polls Event long-polls waiting now.\n# TYPE easgate_long_polls gauge\n";
  out += "easgate_long_polls " + std::to_string(long_polls_.waiting()) + "\n";
  if (more_metrics_) more_metrics_(out);
  http_metrics_.render(out);
  transport::HttpResponse r = jsonResponse(200, std::move(out));
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

HttpResponse ApiService::devices(Call& call) {
  auto query = protocol::parseInventoryQuery(call.query);
  if (!query) return errorResponse(query.error());
  const auto& q = query.value();
  std::string since;
  if (q.seen_since_ms) since = utc::formatUnixMs(*q.seen_since_ms).substr(0, 19);
  auto page = withReader(
      [&](ReaderConnection& c)
          -> Result<std::optional<std::pair<std::string, std::size_t>>, store::StoreError> {
        // A cursor is a partnership the agent has seen (kept when removed): any other was not
        // one the agent gave.
        if (!q.cursor.empty()) {
          auto known = c.inventory->known(q.cursor);
          if (!known) return known.error();
          if (!known.value()) return std::optional<std::pair<std::string, std::size_t>>();
        }
        DeviceFilter filter;
        filter.after_key = q.cursor;
        filter.access_state = q.access_state;
        filter.device_type = q.device_type;
        filter.search = text::lowerAscii(q.search);
        filter.synced_since = since;
        filter.limit = q.limit;
        // A mailbox by any of its names: the directory gives the Identity devices are filed
        // under; a name it does not know is compared as it is.
        filter.mailbox = q.mailbox;
        if (!filter.mailbox.empty()) {
          MailboxDirectory directory(*c.directory, *c.store);
          auto known = directory.find(filter.mailbox);
          if (!known) return known.error();
          if (known->kind == NameLookup::Kind::kFound) {
            auto entry = directory.entry(known->key);
            if (!entry) return entry.error();
            if (entry.value()) filter.mailbox = entry.value()->identity;
          }
        }
        // Written straight from SQLite's rows. A device takes about 1.2 KB; room for 1.5 KB
        // each, so that a full page is not copied as it grows.
        constexpr std::size_t kRoomPerDevice = 1536;
        std::string body = "{\"devices\":[";
        body.reserve(q.limit * kRoomPerDevice);
        std::size_t count = 0;
        std::string last_key;
        auto read = c.inventory->forEachDevice(filter, [&](const StoredDeviceView& d) {
          if (count++) body += ',';
          appendStoredDeviceJson(body, d);
          if (count == q.limit) last_key = d.key;
        });
        if (!read) return read.error();
        body += "],\"nextCursor\":";
        if (count == q.limit) {
          json::appendString(body, protocol::encodeCursor(last_key));
        } else {
          body += "null";
        }
        body += "}";
        return std::optional(std::pair{std::move(body), count});
      });
  if (!page) return storeFailure(page.error());
  if (!page.value()) {
    return errorResponse(
        protocol::badRequest("invalid-field", "the cursor is not one this agent gave", "cursor"));
  }
  return jsonResponse(200, std::move(page.value()->first));
}

HttpResponse ApiService::device(Call& call) {
  const std::string& identity = call.params[0];
  if (auto p = protocol::partnershipProblem(identity)) {
    return errorResponse(protocol::badRequest("invalid-field", *p, "identity"));
  }
  const std::string key = partnershipKey(identity);
  auto found =
      withReader([&](ReaderConnection& c) -> Result<std::optional<std::string>, store::StoreError> {
        auto device = c.inventory->device(key);
        if (!device) return device.error();
        if (!device.value()) return std::optional<std::string>();
        const StoredDevice& d = *device.value();
        std::string body = "{\"device\":" + deviceJson(d) + ",\"history\":[";
        auto history = c.inventory->history(key);
        if (!history) return history.error();
        bool first = true;
        for (const auto& change : history.value()) {
          std::string item;
          json::JsonWriter w(item);
          w.beginObject();
          w.key("at");
          w.string(utc::formatUnixMs(change.at_ms));
          w.key("field");
          w.string(change.field);
          w.key("old");
          w.string(change.old_value);
          w.key("new");
          w.string(change.new_value);
          w.endObject();
          body += (first ? "" : ",") + item;
          first = false;
        }
        body += "]}";
        return std::optional<std::string>(std::move(body));
      });
  if (!found) return storeFailure(found.error());
  if (!found.value()) {
    return errorResponse(
        {404, "not-found", "no partnership '" + identity + "' in the inventory", "identity"});
  }
  return jsonResponse(200, std::move(*found.value()));
}

HttpResponse ApiService::mailboxLists(Call& call) {
  const std::string& mailbox = call.params[0];
  if (auto p = protocol::mailboxProblem(mailbox)) {
    return errorResponse(protocol::badRequest("invalid-field", *p, "mailbox"));
  }
  // Any name of the mailbox leads to its key, and the lists are kept under the key.
  struct Lists {
    NameLookup::Kind found = NameLookup::Kind::kUnknown;
    MailboxEntry entry;
    std::vector<std::string> desired_allowed, desired_blocked;
    bool managed_allowed = false, managed_blocked = false;
  };
  auto lists = withReader([&](ReaderConnection& c) -> Result<Lists, store::StoreError> {
    Lists l;
    MailboxDirectory directory(*c.directory, *c.store);
    auto known = directory.find(mailbox);
    if (!known) return known.error();
    l.found = known->kind;
    if (l.found != NameLookup::Kind::kFound) return l;
    const std::string& key = known->key;
    auto entry = directory.entry(key);
    if (!entry) return entry.error();
    if (entry.value()) l.entry = std::move(*entry.value());
    l.entry.key = key;
    using Source = MailboxDirectory::Source;
    for (auto [which, harvested, desired, managed] :
         {std::tuple{"allowed", &l.entry.allowed, &l.desired_allowed, &l.managed_allowed},
          std::tuple{"blocked", &l.entry.blocked, &l.desired_blocked, &l.managed_blocked}}) {
      auto h = directory.list(key, which, Source::kHarvested);
      if (!h) return h.error();
      *harvested = std::move(h).value();
      auto m = directory.managed(key, which);
      if (!m) return m.error();
      *managed = m.value();
      if (!*managed) continue;
      auto d = directory.list(key, which, Source::kDesired);
      if (!d) return d.error();
      *desired = std::move(d).value();
    }
    return l;
  });
  if (!lists) return storeFailure(lists.error());
  if (lists->found == NameLookup::Kind::kAmbiguous) {
    return errorResponse({409, "ambiguous",
                          "the name '" + mailbox +
                              "' fits more than one mailbox; name it by its SMTP address or Guid",
                          "mailbox"});
  }
  if (lists->found == NameLookup::Kind::kUnknown) {
    return errorResponse(
        {404, "not-found",
         "the mailbox '" + mailbox + "' is unknown: no harvest found it and no command named it",
         "mailbox"});
  }
  std::string out;
  json::JsonWriter w(out);
  auto array = [&](const std::vector<std::string>& ids) {
    w.beginArray();
    for (const auto& id : ids) w.string(id);
    w.endArray();
  };
  w.beginObject();
  w.key("mailbox");
  w.string(lists->entry.identity);
  w.key("key");
  w.string(lists->entry.key);
  w.key("address");
  w.string(lists->entry.address);
  w.key("allowed");
  array(lists->entry.allowed);
  w.key("blocked");
  array(lists->entry.blocked);
  w.key("desiredAllowed");
  if (lists->managed_allowed) {
    array(lists->desired_allowed);
  } else {
    w.null();
  }
  w.key("desiredBlocked");
  if (lists->managed_blocked) {
    array(lists->desired_blocked);
  } else {
    w.null();
  }
  w.endObject();
  return jsonResponse(200, std::move(out));
}

}  // namespace easgate::agent::api
