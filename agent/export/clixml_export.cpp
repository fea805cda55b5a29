#include "agent/export/clixml_export.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "common/files/atomic_file.h"
#include "powershell/clixml/reader.h"

namespace easgate::agent {
namespace {

Result<std::string, ExportError> readWholeFile(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    return ExportError{ExportErrc::kInputUnreadable,
                       file.string() + " is a directory, not a CLIXML file"};
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return ExportError{ExportErrc::kInputUnreadable,
                       "cannot open " + file.string() + ": " + std::strerror(errno)};
  }
  auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    return ExportError{ExportErrc::kInputUnreadable,
                       "cannot read " + file.string() + ": " + ec.message()};
  }
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<std::size_t>(in.gcount()) != bytes.size()) {
    return ExportError{ExportErrc::kInputUnreadable,
                       "cannot read " + file.string() + ": " + std::strerror(errno)};
  }
  return bytes;
}

}  // namespace

Result<InventoryFile, ExportError> readInventoryFromClixml(const std::filesystem::path& file,
                                                           const ProgressCallback& progress) {
  auto bytes = readWholeFile(file);
  if (!bytes) return bytes.error();
  auto reader = powershell::ClixmlReader::fromBytes(std::move(bytes).value());
  auto invalid = [&](const powershell::ClixmlError& e) {
    return ExportError{ExportErrc::kInputInvalid, file.string() + ": " + e.message};
  };
  if (!reader) return invalid(reader.error());
  InventoryBuilder builder;
  // No partnership takes less than ~1 KiB of CLIXML; reserving for that many only claims
  // address space, and spares copying every record each time the list grows.
  builder.reserve(reader->size() / 1024);
  while (true) {
    auto value = reader->next();
    if (!value) return invalid(value.error());
    if (!value.value()) break;
    builder.add(*value.value());
    if (progress) progress(reader->position(), reader->size());
  }
  InventoryFile result;
  result.counts = builder.counts();
  result.records = std::move(builder).finish();
  return result;
}

Result<void, ExportError> writeInventory(const RecordSource& records, ExportFormat format,
                                         const std::optional<std::filesystem::path>& output,
                                         std::ostream& standard_output, ExportOptions options) {
  auto write_all = [&](std::ostream& out) -> Result<void, ExportError> {
    auto writer = makeInventoryWriter(format, out, options);
    if (auto read = records([&](const DeviceRecord& record) { writer->write(record); }); !read) {
      return read.error();
    }
    writer->finish();
    return {};
  };
  if (!output) {
    if (auto written = write_all(standard_output); !written) return written;
    if (!standard_output) {
      return ExportError{ExportErrc::kOutputFailed, "cannot write to standard output"};
    }
    return {};
  }
  auto file = files::AtomicFile::create(*output);
  if (!file) return ExportError{ExportErrc::kOutputFailed, file.error().message};
  if (auto written = write_all(file->stream()); !written) return written;  // the file is dropped
  if (auto committed = file->commit(); !committed) {
    return ExportError{ExportErrc::kOutputFailed, committed.error().message};
  }
  return {};
}

Result<void, ExportError> writeInventory(const std::vector<DeviceRecord>& records,
                                         ExportFormat format,
                                         const std::optional<std::filesystem::path>& output,
                                         std::ostream& standard_output, ExportOptions options) {
  return writeInventory(
      [&](const std::function<void(const DeviceRecord&)>& sink) -> Result<void, ExportError> {
        for (const auto& record : records) sink(record);
        return {};
      },
      format, output, standard_output, options);
}

}  // namespace easgate::agent
