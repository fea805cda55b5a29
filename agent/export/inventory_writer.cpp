#include "agent/export/inventory_writer.h"
#include "common/text/ascii.h"
#include "common/text/csv.h"
#include "common/time/utc_time.h"

#include <string>

namespace easgate::agent {
namespace {

DeviceColumns allColumns() {
  DeviceColumns all;
  for (const auto& field : deviceFields()) all.push_back(&field);
  return all;
}

class CsvWriter final : public InventoryWriter {
 public:
  CsvWriter(std::ostream& out, ExportOptions options)
      : out_(out),
        options_(std::move(options)),
        columns_(options_.columns.empty() ? allColumns() : options_.columns) {
    if (options_.excel) line_.append("\xEF\xBB\xBF");
    bool first = true;
    for (const DeviceField* field : columns_) {
      if (!first) line_.push_back(',');
      first = false;
      line_.append(field->exchange_name);
    }
    line_.append("\r\n");
    out_ << line_;
  }

  void write(const DeviceRecord& record) override {
    line_.clear();
    bool first = true;
    for (const DeviceField* field : columns_) {
      if (!first) line_.push_back(',');
      first = false;
      if (options_.excel && field->time) {
        const auto& time = record.*field->time;
        appendCell(time ? utc::formatSpreadsheetTicks(time->time_since_epoch().count() +
                                                      utc::kUnixEpochDotNetTicks)
                        : std::string());
      } else {
        appendCell(fieldText(record, *field));
      }
    }
    line_.append("\r\n");
    out_ << line_;
  }

  void finish() override { out_.flush(); }

 private:
  void appendCell(const std::string& value) {
    text::appendCsvField(line_, value, options_.csv_formula_guard);
  }

  std::ostream& out_;
  ExportOptions options_;
  DeviceColumns columns_;
  std::string line_;
};

// A record as JSON: the API's shape, or only the columns asked for.
void appendRecordJson(std::string& out, const DeviceRecord& record, const DeviceColumns& columns) {
  if (columns.empty()) {
    appendDeviceJson(out, record);
  } else {
    appendDeviceJson(out, record, columns);
  }
}

class JsonArrayWriter final : public InventoryWriter {
 public:
  JsonArrayWriter(std::ostream& out, DeviceColumns columns)
      : out_(out), columns_(std::move(columns)) {
    out_ << '[';
  }

  void write(const DeviceRecord& record) override {
    buffer_.clear();
    if (!first_) buffer_.push_back(',');
    first_ = false;
    buffer_.append("\n");
    appendRecordJson(buffer_, record, columns_);
    out_ << buffer_;
  }

  void finish() override {
    out_ << (first_ ? "]\n" : "\n]\n");
    out_.flush();
  }

 private:
  std::ostream& out_;
  DeviceColumns columns_;
  std::string buffer_;
  bool first_ = true;
};

class NdjsonWriter final : public InventoryWriter {
 public:
  NdjsonWriter(std::ostream& out, DeviceColumns columns)
      : out_(out), columns_(std::move(columns)) {}

  void write(const DeviceRecord& record) override {
    buffer_.clear();
    appendRecordJson(buffer_, record, columns_);
    buffer_.push_back('\n');
    out_ << buffer_;
  }

  void finish() override { out_.flush(); }

 private:
  std::ostream& out_;
  DeviceColumns columns_;
  std::string buffer_;
};

}  // namespace

std::optional<ExportFormat> parseExportFormat(std::string_view name) {
  const std::string low = text::lowerAscii(name);
  if (low == "csv") return ExportFormat::kCsv;
  if (low == "json") return ExportFormat::kJson;
  if (low == "ndjson") return ExportFormat::kNdjson;
  return std::nullopt;
}

Result<DeviceColumns, std::string> parseDeviceColumns(std::string_view list) {
  DeviceColumns columns;
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  while (true) {
    const auto comma = list.find(',');
    const std::string_view name = trim(list.substr(0, comma));
    if (name.empty()) return std::string("an empty column name");
    const DeviceField* field = findDeviceField(name);
    if (!field) {
      std::string known;
      for (const auto& f : deviceFields()) {
        known += known.empty() ? "" : ", ";
        known += f.exchange_name;
      }
      return "no column '" + std::string(name) + "'; the columns are " + known +
             " (or their API names: deviceId, accessState, ...)";
    }
    columns.push_back(field);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return columns;
}

std::unique_ptr<InventoryWriter> makeInventoryWriter(ExportFormat format, std::ostream& out,
                                                     ExportOptions options) {
  switch (format) {
    case ExportFormat::kCsv: return std::make_unique<CsvWriter>(out, options);
    case ExportFormat::kJson: return std::make_unique<JsonArrayWriter>(out, options.columns);
    case ExportFormat::kNdjson: return std::make_unique<NdjsonWriter>(out, options.columns);
  }
  return nullptr;
}

}  // namespace easgate::agent
