#include "agent/api/status_page.h"

#include "common/time/utc_time.h"

namespace easgate::agent::api {
namespace {

constexpr std::string_view kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.sub { color: #57606a; }
.tiles { display: flex; flex-wrap: wrap; gap: .8em; }
.tile { border: 1px solid #d0d7de; border-radius: 6px; padding: .6em 1em; min-width: 9em; }
.tile b { display: block; font-size: 1.5em; }
.warn b { color: #9a6700; } .bad b { color: #cf222e; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .25em .9em .25em 0; border-bottom: 1px solid #eaeef2; }
th { color: #57606a; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #57606a; font-style: italic; }
)";

std::string number(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// "2024-03-05 09:14:27 UTC": the spreadsheet form, easier on the eye than ISO 8601's.
std::string timeText(const std::optional<Timestamp>& t) {
  if (!t) return "never";
  std::string out =
      utc::formatSpreadsheetTicks(t->time_since_epoch().count() + utc::kUnixEpochDotNetTicks);
  out.append(" UTC");
  return out;
}

std::string timeText(std::int64_t unix_ms) {
  std::string out =
      utc::formatSpreadsheetTicks(unix_ms * utc::kTicksPerMs + utc::kUnixEpochDotNetTicks);
  out.append(" UTC");
  return out;
}

std::string ago(std::int64_t now_ms, std::int64_t then_ms) {
  const std::int64_t s = (now_ms - then_ms) / 1000;
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  if (s < 172800) return std::to_string(s / 3600) + " h ago";
  return std::to_string(s / 86400) + " days ago";
}

void tile(std::string& out, std::string_view label, const std::string& value,
          std::string_view kind = "") {
  out.append("<div class=\"tile");
  if (!kind.empty()) {
    out.push_back(' ');
    out.append(kind);
  }
  out.append("\"><b>");
  out.append(htmlEscape(value));
  out.append("</b>");
  out.append(htmlEscape(label));
  out.append("</div>");
}

void countTable(std::string& out, std::string_view what,
                const std::vector<std::pair<std::string, std::int64_t>>& counts) {
  out += "<table><tr><th>" + htmlEscape(what) + "</th><th>devices</th></tr>";
  for (const auto& [name, n] : counts) {
    out += "<tr><td>" + htmlEscape(name.empty() ? "(none)" : name) + "</td><td class=\"n\">" +
           number(n) + "</td></tr>";
  }
  out += "</table>";
}

void deviceTable(std::string& out, const std::vector<DeviceRecord>& devices,
                 std::string_view empty) {
  if (devices.empty()) {
    out += "<p class=\"empty\">" + htmlEscape(empty) + "</p>";
    return;
  }
  out +=
      "<table><tr><th>mailbox</th><th>device</th><th>ID</th><th>state</th><th>first sync</th>"
      "<th>last sync</th></tr>";
  for (const auto& d : devices) {
    out += "<tr><td>" +
           htmlEscape(d.mailbox_address.empty() ? d.mailbox_identity : d.mailbox_address) +
           "</td><td>" + htmlEscape(d.device_model.empty() ? d.device_type : d.device_model) +
           "</td><td><code>" + htmlEscape(d.device_id) + "</code></td><td>" +
           htmlEscape(d.access_state +
                      (d.access_state_reason.empty() ? "" : " (" + d.access_state_reason + ")")) +
           "</td><td>" + htmlEscape(timeText(d.first_sync_time)) + "</td><td>" +
           htmlEscape(timeText(d.last_success_sync)) + "</td></tr>";
  }
  out += "</table>";
}

}  // namespace

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string renderStatusPage(const StatusPage& p) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>easgate</title><style>";
  out += kStyle;
  out += "</style></head><body>";
  out += "<h1>easgate</h1><p class=\"sub\">version " + htmlEscape(p.version) + " &middot; " +
         htmlEscape(p.exchange) + " &middot; up since " + htmlEscape(timeText(p.started_ms)) +
         " &middot; this page " + htmlEscape(timeText(p.now_ms)) + "</p>";

  std::int64_t quarantined = 0, blocked = 0;
  for (const auto& [state, n] : p.overview.by_access_state) {
    if (state == "Quarantined") quarantined = n;
    if (state == "Blocked") blocked = n;
  }
  std::int64_t failed = 0, waiting = 0;
  for (const auto& [state, n] : p.commands) {
    if (state == "failed") failed = n;
    if (state == "queued" || state == "running" || state == "retrying") waiting += n;
  }
  out += "<div class=\"tiles\">";
  tile(out, "devices", number(p.devices));
  tile(out, "quarantined: waiting for a decision", number(quarantined),
       quarantined > 0 ? "warn" : "");
  tile(out, "blocked", number(blocked));
  tile(out, "no sync for " + std::to_string(p.stale_days) + " days", number(p.overview.stale),
       p.overview.stale > 0 ? "warn" : "");
  tile(out, "commands in progress", number(waiting));
  tile(out, "commands failed", number(failed), failed > 0 ? "bad" : "");
  out += "</div>";

  out +=
      "<h2>Harvests</h2><table><tr><th></th><th>finished</th><th>devices</th>"
      "<th>Exchange calls</th><th>mailboxes skipped</th></tr>";
  for (const auto& [name, run] : {std::pair{"full", &p.last_full}, {"delta", &p.last_delta}}) {
    out += "<tr><td>" + std::string(name) + "</td>";
    if (*run) {
      const HarvestRun& r = **run;
      out += "<td>" + htmlEscape(ago(p.now_ms, r.finished_ms)) + "</td><td class=\"n\">" +
             number(r.devices) + "</td><td class=\"n\">" + number(r.calls) +
             "</td><td class=\"n\">" + number(r.failed_mailboxes) + "</td>";
    } else {
      out += "<td colspan=\"4\" class=\"empty\">not yet</td>";
    }
    out += "</tr>";
  }
  out += "</table>";

  out += "<h2>Quarantine queue</h2>";
  deviceTable(out, p.overview.quarantined, "No device is waiting in quarantine.");
  out += "<h2>Devices by access state</h2>";
  countTable(out, "access state", p.overview.by_access_state);
  out += "<h2>Devices by type</h2>";
  countTable(out, "device type", p.overview.by_device_type);
  out += "<h2>Longest without a sync</h2>";
  deviceTable(out, p.overview.stalest,
              "Every device synced in the last " + std::to_string(p.stale_days) + " days.");
  out +=
      "<p class=\"sub\">The same and more as JSON: <code>GET /v1/status</code>, "
      "<code>GET /v1/devices</code>; as CSV: <code>easgate export</code>.</p>";
  out += "</body></html>\n";
  return out;
}

}  // namespace easgate::agent::api
