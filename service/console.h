#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

namespace easgate::service {

// What differs between platforms for the command line (posix/ and windows/ implement it).

// True when the stream is an interactive terminal (so progress lines make sense on it).
bool isTerminal(std::FILE* stream);

// Standard output passes bytes as they are written: on Windows no "\n" becomes "\r\n" (CSV
// writes its own CRLF line ends). Nothing to do on POSIX.
void writeStdoutAsBytes();

// Where the agent keeps its store when no --data-dir is given: /var/lib/easgate, or
// %ProgramData%\easgate on Windows.
std::filesystem::path defaultDataDirectory();

// Where `easgate run` looks for its configuration: /etc/easgate/easgate.json, or
// %ProgramData%\easgate\easgate.json on Windows.
std::filesystem::path defaultConfigFile();

// Empty, or why this process must not create files in `directory`: it runs as root and the
// directory belongs to another account (the service's, as the packages install it). Files made
// there, such as the store's journal, would be root's, and the agent could not open them.
std::string foreignOwnerProblem(const std::filesystem::path& directory);

// Files and folders the agent creates from now on are its own account's only (umask 077 on
// POSIX), whatever umask it was started with: the store, its journal, the logs, the keys. On
// Windows the data folder's ACL, set by the installer, decides.
void keepNewFilesPrivate();

// The folder of the running easgate executable (its companions, such as
// easgate-exchange-sim, are installed beside it).
std::filesystem::path executableDirectory();

// The companion program `name` (such as "easgate-exchange-sim") installed beside easgate, with
// the platform's suffix for executables: ".exe" on Windows, where CreateProcess needs it.
std::filesystem::path companionProgram(const std::string& name);

// Calls `stop` once when the process is asked to stop (SIGINT or SIGTERM; Ctrl+C or a
// console close on Windows). `stop` runs on a thread of its own, not in a signal handler.
void onStopRequest(std::function<void()> stop);

}  // namespace easgate::service
