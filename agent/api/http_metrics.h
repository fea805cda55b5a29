#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace easgate::agent::api {

// Counts requests and their latencies by route, for /metrics (Prometheus text format).
class HttpMetrics {
 public:
  // `route` is the route's pattern ("/v1/devices/{identity}"), never the raw path, so the
  // number of series stays fixed.
  void record(const std::string& method, const std::string& route, int status, double seconds);

  // Appends the easgate_http_* families.
  void render(std::string& out) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  struct Latency {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Latency> latency_;
};

// A Prometheus label value, escaped.
std::string prometheusLabel(const std::string& value);

// A sample's value to the millisecond ("12.345"): seconds, durations, Unix times.
std::string prometheusNumber(double value);

}  // namespace easgate::agent::api
