#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <vector>

#include "agent/export/inventory_writer.h"
#include "agent/inventory/device_record.h"
#include "agent/inventory/exchange_mapping.h"
#include "common/result.h"

namespace easgate::agent {

enum class ExportErrc {
  kInputUnreadable,  // the file cannot be opened or read
  kInputInvalid,     // the file is not valid CLIXML (the message says where)
  kOutputFailed,     // the output cannot be written; nothing was replaced
};
using ExportError = Error<ExportErrc>;

// Called with how much of the input has been read, in bytes of text, and the total.
using ProgressCallback = std::function<void(std::size_t done, std::size_t total)>;

struct InventoryFile {
  std::vector<DeviceRecord> records;
  InventoryBuilder::Counts counts;
};

// Reads the device inventory from an Export-Clixml file of Get-MobileDevice,
// Get-MobileDeviceStatistics and/or Get-CASMailbox output: every record, or an error.
Result<InventoryFile, ExportError> readInventoryFromClixml(const std::filesystem::path& file,
                                                           const ProgressCallback& progress = {});

// Where exported records come from, one at a time: it hands each to `sink`, or fails (and then
// no output file is left behind).
using RecordSource =
    std::function<Result<void, ExportError>(const std::function<void(const DeviceRecord&)>& sink)>;

// Writes records to `output` (replaced atomically, when all of them were written) or, when it is
// empty, to `standard_output`. One record is held at a time.
Result<void, ExportError> writeInventory(const RecordSource& records, ExportFormat format,
                                         const std::optional<std::filesystem::path>& output,
                                         std::ostream& standard_output, ExportOptions options = {});
Result<void, ExportError> writeInventory(const std::vector<DeviceRecord>& records,
                                         ExportFormat format,
                                         const std::optional<std::filesystem::path>& output,
                                         std::ostream& standard_output, ExportOptions options = {});

}  // namespace easgate::agent
