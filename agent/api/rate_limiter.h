#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "agent/time/clock.h"

namespace easgate::agent::api {

// Per-client token buckets: each client may make `per_second` requests a second on average and
// `burst` at once. Safe from several threads.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, double per_second, double burst)
      : clock_(clock), per_second_(per_second), burst_(burst) {}

  // Takes a token for `client`: 0 when the request may go ahead, else the milliseconds until
  // the next token (for Retry-After).
  std::int64_t take(const std::string& client);

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t at_ms = 0;
  };
  const Clock& clock_;
  double per_second_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace easgate::agent::api
