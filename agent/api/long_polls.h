#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace easgate::agent::api {

// The long-polls waiting for news (GET /v1/events?wait=...): woken together when news comes,
// and bounded, per client and in total, so that no client can gather waits without limit.
// Safe from any thread; what it hands out may outlive it.
class LongPolls {
 public:
  LongPolls(std::size_t per_client, std::size_t total);

  // A place for one more wait of `client`, held until the returned token is dropped; nullptr
  // when the client, or the agent, already has as many as allowed.
  std::shared_ptr<void> admit(const std::string& client);
  // Calls `wake` at every wakeAll() while the returned subscription lives.
  std::shared_ptr<void> subscribe(std::function<void()> wake);
  void wakeAll();
  // Waits admitted now.
  std::size_t waiting() const;

  struct State;  // shared with what admit() and subscribe() hand out

 private:
  std::shared_ptr<State> state_;
};

}  // namespace easgate::agent::api
