#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/inventory/inventory_store.h"

// The page an administrator opens at https://<agent>:9090/ (reader): what the agent is doing and
// what in the inventory wants attention, on one screen. Plain HTML with its style inline; no
// script, nothing loaded from elsewhere (the Content-Security-Policy forbids it), every value
// escaped (device names come from devices).
namespace easgate::agent::api {

struct StatusPage {
  std::string version;
  std::string exchange;
  std::int64_t started_ms = 0;
  std::int64_t now_ms = 0;
  std::int64_t devices = 0;
  std::vector<std::pair<std::string, std::int64_t>> commands;  // by state
  std::optional<HarvestRun> last_full;
  std::optional<HarvestRun> last_delta;
  int stale_days = 30;
  InventoryOverview overview;
};

std::string renderStatusPage(const StatusPage& page);

// Text as HTML text or an attribute value: & < > " ' escaped.
std::string htmlEscape(std::string_view text);

}  // namespace easgate::agent::api
