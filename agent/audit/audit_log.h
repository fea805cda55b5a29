#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/audit/sha256.h"
#include "agent/store/database.h"
#include "protocol/requests.h"

namespace easgate::agent {

// One mutation: who asked, what, on what, and how it ended.
struct AuditRecord {
  std::int64_t at_ms = 0;  // Unix time in milliseconds
  std::string actor;       // the client's identity (its certificate's subject), or "agent"
  std::string action;      // block, allow, wipe, ...
  std::string target;      // the mailbox or partnership
  std::string outcome;     // accepted, succeeded, failed: <why>, ...
  std::string detail;      // anything else worth keeping (JSON)
};

struct AuditEntry {
  std::int64_t sequence = 0;
  AuditRecord record;
  Sha256 hash{};
};

// What `easgate audit verify` found.
struct AuditVerification {
  std::int64_t entries = 0;
  Sha256 head{};  // the last entry's hash; compare with one noted earlier to catch truncation
  bool intact = true;
  std::int64_t first_bad_sequence = 0;  // when not intact
  std::string problem;                  // when not intact, in words
};

// The append-only audit log in the store. Each entry's hash covers the hash before it, its
// sequence number and its fields, so changing, removing or reordering any entry breaks every
// hash from there on. Only dropping entries from the end leaves a valid chain: the head hash,
// noted outside the store, catches that.
class AuditLog {
 public:
  explicit AuditLog(store::Database& database) : database_(database) {}

  // Appends in its own transaction, or within the caller's if one is open (pass
  // `in_transaction`), so a mutation and its audit entry commit together.
  Result<AuditEntry, store::StoreError> append(const AuditRecord& record,
                                               bool in_transaction = false);

  Result<AuditVerification, store::StoreError> verify();

  // Entries as `query` selects them, newest first (at most query.limit).
  Result<std::vector<AuditEntry>, store::StoreError> list(const protocol::AuditQuery& query);

  // The entry whose hash this is, if any: a head noted earlier is still in an intact log that
  // has only grown since.
  Result<std::optional<std::int64_t>, store::StoreError> sequenceOf(const Sha256& hash);

  // The hash an entry must have.
  static Sha256 entryHash(const Sha256& previous, std::int64_t sequence, const AuditRecord& r);

 private:
  store::Database& database_;
};

}  // namespace easgate::agent
