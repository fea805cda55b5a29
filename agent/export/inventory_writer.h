#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

#include "agent/inventory/device_record.h"

namespace easgate::agent {

enum class ExportFormat { kCsv, kJson, kNdjson };

// "csv", "json" or "ndjson" (any case); empty for anything else.
std::optional<ExportFormat> parseExportFormat(std::string_view name);

// The fields to export, in order.
using DeviceColumns = std::vector<const DeviceField*>;

// "DeviceId,DeviceAccessState,lastSuccessSync": fields by either name, in any case, separated by
// commas (spaces around them ignored); an error names the one not known and lists the rest.
Result<DeviceColumns, std::string> parseDeviceColumns(std::string_view list);

struct ExportOptions {
  // Prefix a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a
  // single quote. Device names and user agents come from devices, so they are untrusted.
  bool csv_formula_guard = true;
  // The fields to write and their order; every field of deviceFields() when empty.
  DeviceColumns columns;
  // CSV for Excel: a UTF-8 byte order mark first (without it Excel reads UTF-8 as its ANSI
  // code page), times as "2024-03-05 09:14:27" (UTC) so that it reads them as dates.
  bool excel = false;
};

// Writes device records in one format, field order from deviceFields() (or the columns asked):
//  CSV: RFC 4180, a header row of Exchange's property names (DeviceField::exchange_name), CRLF
//  line ends, fields quoted when they hold , " CR or LF;
//  JSON: one array of objects; NDJSON: one object per line; members by the API's names
//  (DeviceField::name). Missing values are empty / null.
class InventoryWriter {
 public:
  virtual ~InventoryWriter() = default;
  virtual void write(const DeviceRecord& record) = 0;
  // Completes the document (closes the JSON array); call once, after the last record.
  virtual void finish() = 0;
};

std::unique_ptr<InventoryWriter> makeInventoryWriter(ExportFormat format, std::ostream& out,
                                                     ExportOptions options = {});

}  // namespace easgate::agent
