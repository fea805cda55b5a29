#include "service/console.h"

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

namespace easgate::service {

bool isTerminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

void writeStdoutAsBytes() {}

std::filesystem::path defaultDataDirectory() { return "/var/lib/easgate"; }

std::filesystem::path defaultConfigFile() { return "/etc/easgate/easgate.json"; }

std::string foreignOwnerProblem(const std::filesystem::path& directory) {
  struct stat st {};
  if (::geteuid() != 0 || ::stat(directory.c_str(), &st) != 0 || st.st_uid == 0) return {};
  std::string owner = std::to_string(st.st_uid);
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(st.st_uid, &entry, buffer, sizeof buffer, &found) == 0 && found) {
    owner = found->pw_name;
  }
  return directory.string() + " belongs to '" + owner +
         "' and this runs as root: files made there would be root's, and the agent could not "
         "open them. Run it as that account: sudo -u " +
         owner + " easgate ...";
}

std::filesystem::path executableDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : self.parent_path();
}

std::filesystem::path companionProgram(const std::string& name) {
  return executableDirectory() / name;
}

void onStopRequest(std::function<void()> stop) {
  // Block the signals in this thread (and every thread started after), and take them with
  // sigwait on a thread of their own: no work in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals, stop = std::move(stop)] {
    int received = 0;
    sigwait(&signals, &received);
    stop();
  }).detach();
}

void keepNewFilesPrivate() { ::umask(077); }

}  // namespace easgate::service
