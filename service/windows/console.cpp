#include "service/console.h"

#include <io.h>
#include <windows.h>

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

std::filesystem::path defaultDataDirectory() {
  const char* program_data = std::getenv("ProgramData");
  return std::filesystem::path(program_data && *program_data ? program_data : "C:\\ProgramData") /
         "easgate";
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
