#pragma once

#include <ostream>
#include <string>
#include <vector>

// Rows for people and for spreadsheets: what `easgate audit list` prints.
namespace easgate::service {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as the header
};

// Aligned columns, a header line, cells past `max_width` characters cut with "..." but those
// of the last column, which are whole.
void printTable(std::ostream& out, const Table& table, std::size_t max_width = 60);

// RFC 4180: a header row, CRLF line ends, formula-like cells guarded.
void printCsv(std::ostream& out, const Table& table);

}  // namespace easgate::service
