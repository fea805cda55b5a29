#include "agent/api/long_polls.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace easgate::agent::api {

struct LongPolls::State {
  std::size_t per_client;
  std::size_t total;
  mutable std::mutex mutex;
  std::map<std::string, std::size_t> by_client;
  std::size_t admitted = 0;
  std::map<std::uint64_t, std::function<void()>> subscribers;
  std::uint64_t next_id = 0;
};

namespace {

// A wait's place: given back when the wait ends, however it ends.
struct Place {
  Place(std::shared_ptr<LongPolls::State> s, std::string c)
      : state(std::move(s)), client(std::move(c)) {}
  ~Place() {
    std::lock_guard lock(state->mutex);
    --state->admitted;
    if (--state->by_client[client] == 0) state->by_client.erase(client);
  }
  std::shared_ptr<LongPolls::State> state;
  std::string client;
};

struct Subscription {
  Subscription(std::shared_ptr<LongPolls::State> s, std::uint64_t i) : state(std::move(s)), id(i) {}
  ~Subscription() {
    std::lock_guard lock(state->mutex);
    state->subscribers.erase(id);
  }
  std::shared_ptr<LongPolls::State> state;
  std::uint64_t id;
};

}  // namespace

LongPolls::LongPolls(std::size_t per_client, std::size_t total)
    : state_(std::make_shared<State>()) {
  state_->per_client = per_client;
  state_->total = total;
}

std::shared_ptr<void> LongPolls::admit(const std::string& client) {
  std::lock_guard lock(state_->mutex);
  std::size_t& mine = state_->by_client[client];
  if (mine >= state_->per_client || state_->admitted >= state_->total) return nullptr;
  ++mine;
  ++state_->admitted;
  return std::make_shared<Place>(state_, client);
}

std::shared_ptr<void> LongPolls::subscribe(std::function<void()> wake) {
  std::lock_guard lock(state_->mutex);
  const std::uint64_t id = state_->next_id++;
  state_->subscribers.emplace(id, std::move(wake));
  return std::make_shared<Subscription>(state_, id);
}

void LongPolls::wakeAll() {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(state_->mutex);
    for (const auto& [id, wake] : state_->subscribers) wakes.push_back(wake);
  }
  // Outside the lock: a wake may subscribe or drop a subscription.
  for (const auto& wake : wakes) wake();
}

std::size_t LongPolls::waiting() const {
  std::lock_guard lock(state_->mutex);
  return state_->admitted;
}

}  // namespace easgate::agent::api
