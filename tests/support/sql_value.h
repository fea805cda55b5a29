#pragma once

#include <gtest/gtest.h>

#include <string>

#include "agent/store/database.h"

namespace easgate::testing {

// The first column of the first row `sql` answers, as text: what a test reads back from a store
// (a pragma, a count). A failed query or no row fails the test where it is called.
inline std::string sqlValue(agent::store::Database& db, const char* sql) {
  auto q = db.prepare(sql);
  if (!q.ok()) {
    ADD_FAILURE() << sql << ": " << q.error().message;
    return {};
  }
  auto row = q->step();
  if (!row.ok() || !row.value()) {
    ADD_FAILURE() << sql << ": " << (row.ok() ? "no row" : row.error().message);
    return {};
  }
  return q->text(0);
}

}  // namespace easgate::testing
