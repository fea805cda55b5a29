#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/store/database.h"
#include "powershell/clixml/property_view.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::agent {

// A mailbox as Get-CASMailbox describes it: its key, the names it answers to, its lists.
struct MailboxEntry {
  std::string key;                   // Exchange's immutable id, lower case (see mailboxKey below)
  std::string identity;              // "contoso.com/Users/Ann Berg"
  std::string address;               // primary SMTP address
  std::vector<std::string> names;    // every name Exchange takes as -Identity for it
  std::vector<std::string> allowed;  // ActiveSyncAllowedDeviceIDs
  std::vector<std::string> blocked;  // ActiveSyncBlockedDeviceIDs
};

// Reads a Get-CASMailbox (or Get-EXOCASMailbox) object. The key is the Guid (which on-premises
// and both kinds of Exchange Online cmdlets give), else ExternalDirectoryObjectId, else
// ExchangeGuid; nullopt when it has none.
// Names: Identity, Name, DistinguishedName, SamAccountName, Alias, UserPrincipalName,
// PrimarySmtpAddress, every smtp: proxy address, and the ids themselves.
std::optional<MailboxEntry> mailboxEntryFromCasMailbox(const powershell::PropertyView& object);
std::optional<MailboxEntry> mailboxEntryFromCasMailbox(const powershell::PsObject& object);

// What a name is known as.
struct NameLookup {
  enum class Kind { kUnknown, kFound, kAmbiguous } kind = Kind::kUnknown;
  std::string key;  // when found
};

// The agent's directory of mailboxes: every name the MDM may use for a mailbox (compared as
// Exchange compares names: text/case_fold.h) leads to one key, and the lists the agent keeps per
// mailbox are kept under that key. Learned from full harvests and from resolving names Exchange
// was asked about. Over two connections: one to the directory's file (directory_file.h: the
// mailboxes, their names, the lists as Exchange holds them), one to the store (the lists as the
// MDM wants them, which the journal writes with each command). Not thread-safe: one caller at a
// time per pair of connections; call inside the caller's transaction of the directory's file
// where atomicity matters.
class MailboxDirectory {
 public:
  MailboxDirectory(store::Database& directory, store::Database& store)
      : database_(directory), store_(store), statements_(directory), store_statements_(store) {}

  NameLookup lookup(std::string_view name);  // a store failure reads as kUnknown
  Result<NameLookup, store::StoreError> find(std::string_view name);

  // Records a mailbox and its names (replacing the names it had), plus `also` (the name an MDM
  // used that Exchange resolved to it). With `lists`, its harvested lists are replaced too.
  Result<void, store::StoreError> record(const MailboxEntry& entry, std::int64_t now_ms, bool lists,
                                         std::string_view also = {});

  // New mailboxes kept aside, for a harvest's listing of many mailboxes at once. Written a
  // mailbox at a time, in the short transactions that leave other writers their turn, each of a
  // mailbox's names went into the names index at a place of its own, and its row into the index
  // by key, so that nearly every one dirtied a page of its own (a first harvest of 100,000
  // mailboxes wrote 11.5 GB, and the names took 30 s of its listing's 37).
  // From deferNames() until sortDeferredNames(), record() keeps a mailbox the directory does not
  // hold yet aside, its row and its names; a reader meanwhile does not find it, as before it was
  // recorded. sortDeferredNames() then puts the rows in key order and the names in name order,
  // outside any transaction; addDeferredNames(), in the caller's write transactions, adds them a
  // few at a time, side by side: the rows without their fingerprints, then the names, then the
  // fingerprints (so that a mailbox whose names were never all added is recorded again by the
  // next harvest). endDeferringNames() forgets what is left (a harvest that failed). A mailbox
  // recorded meanwhile by other means (a command that asked Exchange about it) keeps what they
  // wrote.
  Result<void, store::StoreError> deferNames();
  // Returns how many mailboxes were kept aside.
  Result<std::size_t, store::StoreError> sortDeferredNames();
  // Adds up to `rows` rows, names or fingerprints; true once all of them are in.
  Result<bool, store::StoreError> addDeferredNames(std::size_t rows);
  Result<void, store::StoreError> endDeferringNames();

  // Whether the directory holds a mailbox as record() would write it (the same with `lists`):
  // then record() would write nothing, and a caller may skip it without taking the write lock.
  Result<bool, store::StoreError> holds(const MailboxEntry& entry, bool lists);

  // The mailbox under a key: identity and address; nullopt when unknown.
  Result<std::optional<MailboxEntry>, store::StoreError> entry(std::string_view key);

  // Device IDs on a mailbox's list: as Exchange held it at the last read, or as the MDM wants it.
  enum class Source { kHarvested, kDesired };
  Result<std::vector<std::string>, store::StoreError> list(std::string_view key,
                                                           std::string_view which, Source source);
  // Whether the MDM manages the list (has set it or edited it): drift is checked on these.
  Result<bool, store::StoreError> managed(std::string_view key, std::string_view which);

  // Every list the MDM manages: (key, "allowed" or "blocked"), in key order.
  Result<std::vector<std::pair<std::string, std::string>>, store::StoreError> managedLists();
  // The device IDs (lower case) the MDM wants on each mailbox's allowed list, by key.
  Result<std::map<std::string, std::set<std::string>>, store::StoreError> desiredAllowed();

  // Lists an earlier release kept under the name the MDM used: moved under the key the name
  // now resolves to, in a write transaction of its own on the store. Where a key already has
  // a list of its own, that newer one stays. Returns how many names were moved.
  Result<std::size_t, store::StoreError> rekeyLegacyLists();
  // Whether rekeyLegacyLists() would move any: a read, so a caller takes the write lock only
  // when there is something to write.
  Result<bool, store::StoreError> hasLegacyLists();

 private:
  // What record() writes of a mailbox, in one digest, and the names it writes (case-folded).
  struct Facts {
    std::set<std::string> names;
    std::string fingerprint;
  };
  static Facts factsOf(const MailboxEntry& entry, bool lists, std::string_view also);
  // Names lists are kept under that now resolve to a key: (name, key), newest command first.
  Result<std::vector<std::pair<std::string, std::string>>, store::StoreError> legacyNames();
  // rekeyLegacyLists()'s writes, in its transaction: each (name, key)'s lists moved.
  Result<void, store::StoreError> rekey(
      const std::vector<std::pair<std::string, std::string>>& names);
  // How the directory holds the mailbox under `key`, against `fingerprint`; with `with_names`,
  // and held otherwise, the names (case-folded) it holds for it. One read of its row; without
  // the names, of one page of the index mailbox_directory_held (directory_file.cpp).
  enum class Held { kNot, kOtherwise, kAsIs };
  struct Stored {
    Held held = Held::kNot;
    std::vector<std::string> names;
  };
  Result<Stored, store::StoreError> heldAs(const std::string& key, const std::string& fingerprint,
                                           bool with_names);
  // record()'s writes of the names: `gone` removed, today's added.
  Result<void, store::StoreError> writeNames(const MailboxEntry& entry, const Facts& facts,
                                             const std::vector<std::string>& gone);
  // record() of a mailbox not held, while deferring: its row and names kept aside.
  Result<void, store::StoreError> keepAside(const MailboxEntry& entry, const Facts& facts,
                                            const std::string& names_json, std::int64_t now_ms);

  store::Database& database_;  // the directory's file
  store::Database& store_;     // the store: the MDM's lists
  store::StatementCache statements_;
  store::StatementCache store_statements_;
  // From deferNames() to sortDeferredNames(); then what addDeferredNames() has to add (rows of
  // the sorted tables, numbered from 1) and how far it has come.
  bool deferring_ = false;
  std::int64_t mailboxes_to_add_ = 0;
  std::int64_t rows_added_ = 0;
  std::int64_t names_to_add_ = 0;
  std::int64_t names_added_ = 0;
  std::int64_t fingerprints_added_ = 0;
};

}  // namespace easgate::agent
