#include "service/table_output.h"

#include <algorithm>

#include "common/text/csv.h"

namespace easgate::service {
namespace {

// Characters, not bytes: a column of names with accents still lines up.
std::size_t width(const std::string& cell) {
  return static_cast<std::size_t>(std::count_if(cell.begin(), cell.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string cut(const std::string& cell, std::size_t max_width) {
  if (width(cell) <= max_width) return cell;
  std::string out;
  std::size_t chars = 0;
  for (char c : cell) {
    const bool starts = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts && ++chars > max_width - 3) break;
    out.push_back(c);
  }
  return out + "...";
}

}  // namespace

void printTable(std::ostream& out, const Table& table, std::size_t max_width) {
  std::vector<std::vector<std::string>> lines;
  lines.push_back(table.header);
  for (const auto& row : table.rows) {
    std::vector<std::string> cells;
    // The last column is whole: cutting it lines nothing up.
    for (std::size_t i = 0; i < row.size(); ++i) {
      cells.push_back(i + 1 < row.size() ? cut(row[i], max_width) : row[i]);
    }
    lines.push_back(std::move(cells));
  }
  std::vector<std::size_t> widths(table.header.size(), 0);
  for (const auto& line : lines) {
    for (std::size_t i = 0; i < line.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], width(line[i]));
    }
  }
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text.append(widths[i] - width(line[i]) + 2, ' ');
    }
    out << text << "\n";
  }
}

void printCsv(std::ostream& out, const Table& table) {
  auto row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) line.push_back(',');
      text::appendCsvField(line, cells[i], /*formula_guard=*/true);
    }
    out << line << "\r\n";
  };
  row(table.header);
  for (const auto& r : table.rows) row(r);
}

}  // namespace easgate::service
