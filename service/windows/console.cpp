#include "service/console.h"

#include <fcntl.h>
#include <io.h>
#include <windows.h>
// After windows.h:
#include <knownfolders.h>
#include <shlobj.h>

#include <cstdlib>
#include <mutex>

namespace easgate::service {
namespace {
std::function<void()> stop_callback;
std::once_flag stopped;

BOOL WINAPI onConsoleEvent(DWORD) {
  std::call_once(stopped, [] {
    if (stop_callback) stop_callback();
  });
  return TRUE;
}
}  // namespace

bool isTerminal(std::FILE* stream) { return ::_isatty(::_fileno(stream)) != 0; }

void writeStdoutAsBytes() {
  std::fflush(stdout);
  ::_setmode(::_fileno(stdout), _O_BINARY);
}

std::filesystem::path defaultDataDirectory() {
  // The shell's answer, not %ProgramData%: a service's environment need not have it (Wine's
  // service manager gave C:\users\Public), and the MSI puts easgate.json where this says.
  PWSTR known = nullptr;
  std::filesystem::path program_data = "C:\\ProgramData";
  if (SUCCEEDED(SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &known))) {
    program_data = known;
  }
  CoTaskMemFree(known);
  return program_data / "easgate";
}

std::filesystem::path defaultConfigFile() { return defaultDataDirectory() / "easgate.json"; }

// Windows keeps the owner's rights through the folder's inherited ACL, whoever creates a file.
std::string foreignOwnerProblem(const std::filesystem::path&) { return {}; }

std::filesystem::path executableDirectory() {
  wchar_t path[MAX_PATH];
  DWORD n = GetModuleFileNameW(nullptr, path, MAX_PATH);
  return n ? std::filesystem::path(std::wstring(path, n)).parent_path()
           : std::filesystem::current_path();
}

std::filesystem::path companionProgram(const std::string& name) {
  return executableDirectory() / (name + ".exe");
}

void onStopRequest(std::function<void()> stop) {
  stop_callback = std::move(stop);
  SetConsoleCtrlHandler(onConsoleEvent, TRUE);
}

void keepNewFilesPrivate() {}  // the data folder's ACL (set by the installer) applies

}  // namespace easgate::service
