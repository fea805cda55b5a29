#include "agent/api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace easgate::agent::api {

std::int64_t RateLimiter::take(const std::string& client) {
  if (per_second_ <= 0) return 0;  // no limit configured
  const std::int64_t now = clock_.nowMs();
  std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double refill =
        static_cast<double>(std::max<std::int64_t>(0, now - b.at_ms)) / 1000.0 * per_second_;
    b.tokens = std::min(burst_, b.tokens + refill);
    b.at_ms = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return static_cast<std::int64_t>(std::ceil((1.0 - b.tokens) / per_second_ * 1000.0));
}

}  // namespace easgate::agent::api
