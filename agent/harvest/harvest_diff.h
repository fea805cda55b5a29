#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inventory/device_record.h"
#include "agent/inventory/inventory_store.h"

// What a harvest's reading means against what the inventory holds: pure functions of the two,
// with no store and no Exchange (the harvester applies what they decide).
namespace easgate::agent {

// An event for the feed, before it has a sequence number.
struct HarvestEvent {
  std::string kind;
  std::string mailbox;
  std::string device_key;
  std::string detail;  // JSON object
};

struct FieldDelta {
  std::string field;
  std::string old_value;
  std::string new_value;
};

struct PartnershipDiff {
  enum class Kind {
    kDiscovered,  // never stored, or stored as removed: found (again)
    kChanged,     // stored, and a field differs
    kUnchanged,
  };
  Kind kind = Kind::kUnchanged;
  // What to store now; empty when the stored record is read as it is, statistics current
  // (nothing to write).
  DeviceFieldTexts fields;
  std::vector<FieldDelta> changes;  // by field name; empty unless kChanged
  std::vector<HarvestEvent> events;
};

// `read` as a harvest read it, against `stored`. Without `statistics_came` (its mailbox's
// statistics could not be read, or it is gone) the statistics stored before are kept.
// `allowed_by_mdm`: its ID is on the allowed list the MDM wants for its mailbox (said in the
// discovery event).
PartnershipDiff diffPartnership(const std::optional<StoredPartnership>& stored,
                                const DeviceRecord& read, const std::string& key,
                                bool statistics_came, bool allowed_by_mdm);

// Joins one Get-MobileDeviceStatistics object (as statisticsRecord() reads it) to the
// partnership it describes among a mailbox's staged ones (by Identity in any case and either
// separator, else by Guid: the two cmdlets may write the Identity differently) and merges it in.
// Statistics of a partnership not among them (made since the listing) are kept as a partnership of
// their own when `keep_unlisted` (a full harvest; a delta's statistics bring the changed
// partnership's neighbours, which it did not read). Returns the partnership's index, or nullopt
// when the statistics were left out.
std::optional<std::size_t> joinStatistics(std::vector<StagedPartnership>& partnerships,
                                          const DeviceRecord& statistics, bool keep_unlisted);

// What only Get-MobileDeviceStatistics reports.
bool isStatisticsField(std::string_view field);

// Whether Exchange's list differs from the one the MDM wants (device IDs compare in any case,
// in any order, duplicates aside).
bool listDiffers(const std::vector<std::string>& desired, const std::vector<std::string>& exchange);

HarvestEvent removalEvent(const std::string& key, const DeviceFieldTexts& stored);
HarvestEvent statisticsFailedEvent(const std::string& mailbox, const std::string& error);
HarvestEvent listDriftEvent(const std::string& mailbox_identity, const std::string& list,
                            const std::vector<std::string>& desired,
                            const std::vector<std::string>& exchange);

}  // namespace easgate::agent
