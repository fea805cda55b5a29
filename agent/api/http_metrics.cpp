#include "agent/api/http_metrics.h"

#include <cstdio>

namespace easgate::agent::api {

std::string prometheusLabel(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void HttpMetrics::record(const std::string& method, const std::string& route, int status,
                         double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{method, route, status}];
  Latency& l = latency_[{method, route}];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++l.buckets[i];
  }
  ++l.count;
  l.sum += seconds;
}

void HttpMetrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  char number[64];
  out += "# HELP easgate_http_requests_total Requests answered, by route and status.\n";
  out += "# TYPE easgate_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [method, route, status] = key;
    out += "easgate_http_requests_total{method=\"" + method + "\",route=\"" +
           prometheusLabel(route) + "\",status=\"" + std::to_string(status) + "\"} " +
           std::to_string(count) + "\n";
  }
  out += "# HELP easgate_http_request_duration_seconds Time from request to answer.\n";
  out += "# TYPE easgate_http_request_duration_seconds histogram\n";
  for (const auto& [key, l] : latency_) {
    const std::string labels =
        "method=\"" + key.first + "\",route=\"" + prometheusLabel(key.second) + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      std::snprintf(number, sizeof number, "%g", kBuckets[i]);
      out += "easgate_http_request_duration_seconds_bucket{" + labels + ",le=\"" + number + "\"} " +
             std::to_string(l.buckets[i]) + "\n";
    }
    out += "easgate_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(l.count) + "\n";
    std::snprintf(number, sizeof number, "%.6f", l.sum);
    out += "easgate_http_request_duration_seconds_sum{" + labels + "} " + number + "\n";
    out += "easgate_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(l.count) + "\n";
  }
}

std::string prometheusNumber(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return buffer;
}

}  // namespace easgate::agent::api
