#include "agent/export/inventory_writer.h"
#include "common/text/ascii.h"
#include "common/text/csv.h"

#include <string>

namespace easgate::agent {
namespace {

class CsvWriter final : public InventoryWriter {
 public:
  CsvWriter(std::ostream& out, ExportOptions options) : out_(out), options_(options) {
    bool first = true;
    for (const auto& field : deviceFields()) {
      if (!first) line_.push_back(',');
      first = false;
      line_.append(field.name);
    }
    line_.append("\r\n");
    out_ << line_;
  }

  void write(const DeviceRecord& record) override {
    line_.clear();
    bool first = true;
    for (const auto& field : deviceFields()) {
      if (!first) line_.push_back(',');
      first = false;
      appendCell(fieldText(record, field));
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
  std::string line_;
};

class JsonArrayWriter final : public InventoryWriter {
 public:
  explicit JsonArrayWriter(std::ostream& out) : out_(out) { out_ << '['; }

  void write(const DeviceRecord& record) override {
    buffer_.clear();
    if (!first_) buffer_.push_back(',');
    first_ = false;
    buffer_.append("\n");
    appendDeviceJson(buffer_, record);
    out_ << buffer_;
  }

  void finish() override {
    out_ << (first_ ? "]\n" : "\n]\n");
    out_.flush();
  }

 private:
  std::ostream& out_;
  std::string buffer_;
  bool first_ = true;
};

class NdjsonWriter final : public InventoryWriter {
 public:
  explicit NdjsonWriter(std::ostream& out) : out_(out) {}

  void write(const DeviceRecord& record) override {
    buffer_.clear();
    appendDeviceJson(buffer_, record);
    buffer_.push_back('\n');
    out_ << buffer_;
  }

  void finish() override { out_.flush(); }

 private:
  std::ostream& out_;
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

std::unique_ptr<InventoryWriter> makeInventoryWriter(ExportFormat format, std::ostream& out,
                                                     ExportOptions options) {
  switch (format) {
    case ExportFormat::kCsv: return std::make_unique<CsvWriter>(out, options);
    case ExportFormat::kJson: return std::make_unique<JsonArrayWriter>(out);
    case ExportFormat::kNdjson: return std::make_unique<NdjsonWriter>(out);
  }
  return nullptr;
}

}  // namespace easgate::agent
