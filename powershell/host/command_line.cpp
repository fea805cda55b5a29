#include "powershell/host/command_line.h"

namespace easgate::powershell {
namespace {

// The rules the Microsoft C runtime parses by: inside quotes, 2n backslashes before a quote are
// n backslashes and the quote ends the argument's quoted part; 2n+1 are n backslashes and a
// literal quote; backslashes not before a quote are literal.
void appendQuoted(std::string& line, const std::string& argument) {
  if (!argument.empty() && argument.find_first_of(" \t\n\v\"") == std::string::npos) {
    line += argument;
    return;
  }
  line += '"';
  std::size_t backslashes = 0;
  for (char c : argument) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') {
      line.append(2 * backslashes + 1, '\\');
    } else {
      line.append(backslashes, '\\');
    }
    backslashes = 0;
    line += c;
  }
  line.append(2 * backslashes, '\\');  // they precede the closing quote
  line += '"';
}

}  // namespace

std::string windowsCommandLine(const std::string& program,
                               const std::vector<std::string>& arguments) {
  // The program name is read by other rules (up to the next space, or between quotes, with no
  // escapes), and a path cannot hold a quote: quoting it is enough.
  std::string line = '"' + program + '"';
  for (const auto& argument : arguments) {
    line += ' ';
    appendQuoted(line, argument);
  }
  return line;
}

}  // namespace easgate::powershell
