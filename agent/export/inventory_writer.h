#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string_view>

#include "agent/inventory/device_record.h"

namespace easgate::agent {

enum class ExportFormat { kCsv, kJson, kNdjson };

// "csv", "json" or "ndjson" (any case); empty for anything else.
std::optional<ExportFormat> parseExportFormat(std::string_view name);

struct ExportOptions {
  // Prefix a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a
  // single quote. Device names and user agents come from devices, so they are untrusted.
  bool csv_formula_guard = true;
};

// Writes device records in one format, field order from deviceFields():
//  CSV: RFC 4180, a header row, CRLF line ends, fields quoted when they hold , " CR or LF;
//  JSON: one array of objects; NDJSON: one object per line. Missing values are empty / null.
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
