// The shared organisation's log, the same on every platform (the lock is the platform's).
#include "powershell/sim/shared_state.h"

#include <fstream>
#include <iterator>
#include <system_error>

namespace easgate::powershell::sim {

Result<std::vector<std::string>, std::string> SharedState::read(const Lock&) {
  std::vector<std::string> lines;
  // Every request reads: most find nothing new, and a size is all it takes to tell.
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file_, ec);
  if (ec || size == offset_) return lines;  // a new log, or nothing since
  std::ifstream in(file_, std::ios::binary);
  if (!in) return "cannot read " + file_.string();
  in.seekg(static_cast<std::streamoff>(offset_));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return "cannot read " + file_.string();
  in.close();
  const std::size_t end = text.rfind('\n');
  const std::size_t whole = end == std::string::npos ? 0 : end + 1;
  if (whole < text.size()) {
    std::filesystem::resize_file(file_, offset_ + whole, ec);
    if (ec) return "cannot cut an unfinished line off " + file_.string() + ": " + ec.message();
  }
  for (std::size_t at = 0; at < whole;) {
    const std::size_t next = text.find('\n', at);
    std::size_t stop = next;
    if (stop > at && text[stop - 1] == '\r') --stop;
    lines.push_back(text.substr(at, stop - at));
    at = next + 1;
  }
  offset_ += whole;
  return lines;
}

bool SharedState::hasNews() const {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file_, ec);
  return ec || size != offset_;  // when in doubt, read under the lock
}

Result<void, std::string> SharedState::append(const Lock&, const std::string& line) {
  std::error_code ec;
  const std::uintmax_t size =
      std::filesystem::exists(file_, ec) ? std::filesystem::file_size(file_, ec) : 0;
  if (ec) return "cannot read " + file_.string() + ": " + ec.message();
  if (size != offset_) return file_.string() + " has changes this process has not read";
  std::ofstream out(file_, std::ios::binary | std::ios::app);
  out << line << '\n';
  out.flush();
  if (!out) return "cannot write " + file_.string();
  offset_ += line.size() + 1;
  return {};
}

}  // namespace easgate::powershell::sim
