#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/inventory/device_record.h"
#include "powershell/clixml/property_view.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::agent {

// Which Exchange object a deserialized PowerShell object is. A harvester knows which cmdlet it
// called and says so; an object from a file is classified by its type names (every family
// Exchange versions use, with or without "Deserialized."), failing that by its shape.
enum class ExchangeObjectKind { kMobileDevice, kMobileDeviceStatistics, kCasMailbox, kOther };
ExchangeObjectKind classifyExchangeObject(const powershell::PsObject& object);

// The mailbox's distinguished name (lower case) from a partnership's:
// "CN=dev,CN=ExchangeActiveSyncDevices,<mailbox DN>". Empty when it is not one.
std::string mailboxDnOfDeviceDn(std::string_view dn);

// One partnership's record from what Exchange says of it, object by object, in any order:
// Get-MobileDevice is the authority for what it reports (its values replace the record's);
// Get-MobileDeviceStatistics fills what is still empty and sets what only it knows (last
// successful sync, wipe status and times).
// Either reads the object through a PropertyView, so an object never built (the harvest's,
// ClixmlReader::nextObjects) maps as one built does.
void mergeMobileDevice(DeviceRecord& record, const powershell::PropertyView& device);
void mergeStatistics(DeviceRecord& record, const powershell::PropertyView& statistics);
void mergeMobileDevice(DeviceRecord& record, const powershell::PsObject& device);
void mergeStatistics(DeviceRecord& record, const powershell::PsObject& statistics);

// What one Get-MobileDeviceStatistics object says, as a record of its own, to be merged later
// (mergeStatistics(record, statisticsRecord(o)) is mergeStatistics(record, o)).
DeviceRecord statisticsRecord(const powershell::PropertyView& statistics);
void mergeStatistics(DeviceRecord& record, const DeviceRecord& statistics);

// Builds device records from Get-MobileDevice, Get-MobileDeviceStatistics and Get-CASMailbox
// output arriving in any order and mix: statistics are joined to their partnership by
// Identity or Guid, mailboxes give their SMTP address to the partnerships under them.
class InventoryBuilder {
 public:
  struct Counts {
    std::size_t devices = 0;
    std::size_t statistics = 0;
    std::size_t mailboxes = 0;
    std::size_t ignored = 0;   // values that are none of the three
    std::size_t by_shape = 0;  // objects of an unknown type, recognised by their properties
  };

  // Prepares room for about `partnerships` records.
  void reserve(std::size_t partnerships);

  // Takes one top-level value; a list (Export-Clixml -InputObject $array) is taken item by item.
  // `origin`, when given, is what the cmdlet that produced it returns, whatever its type names.
  void add(const powershell::PsValue& value,
           std::optional<ExchangeObjectKind> origin = std::nullopt);

  // The records, in the order their partnerships first appeared.
  std::vector<DeviceRecord> finish() &&;

  const Counts& counts() const { return counts_; }

 private:
  void addObject(const powershell::PsObject& object, ExchangeObjectKind kind);
  DeviceRecord& recordFor(const powershell::PsObject& object);

  std::vector<DeviceRecord> records_;
  std::unordered_map<std::string, std::size_t> by_identity_;  // lower-case Identity
  std::unordered_map<std::string, std::size_t> by_guid_;
  std::unordered_map<std::string, std::string> address_by_mailbox_;  // lower-case identity or DN
  std::unordered_map<std::size_t, std::string> dn_of_record_;        // mailbox DN of a record
  Counts counts_;
};

}  // namespace easgate::agent
