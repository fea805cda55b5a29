#pragma once

// Private to agent/api/: one request as the route handlers see it.
#include <string>
#include <vector>

#include "agent/api/api_service.h"

namespace easgate::agent::api {

struct ApiService::Call {
  const transport::HttpRequest& request;
  Role role = Role::kNone;
  std::string client;               // clientLabel(): for the audit log
  std::vector<std::string> params;  // the route's {} segments, percent-decoded, in order
  protocol::QueryParameters query;
};

template <class F>
auto ApiService::withReader(F&& query) {
  Reader* reader = nullptr;
  for (auto& r : readers_) {
    if (r->mutex.try_lock()) {
      reader = r.get();
      break;
    }
  }
  if (!reader) {
    {
      std::lock_guard lock(readers_mutex_);
      reader = readers_[next_reader_++ % readers_.size()].get();
    }
    reader->mutex.lock();
  }
  std::lock_guard lock(reader->mutex, std::adopt_lock);
  return query(reader->connection);
}

}  // namespace easgate::agent::api
