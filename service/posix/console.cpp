#include "service/console.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace easgate::service {

bool isTerminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

std::filesystem::path defaultDataDirectory() { return "/var/lib/easgate"; }

std::filesystem::path defaultConfigFile() { return "/etc/easgate/easgate.json"; }

std::filesystem::path executableDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : self.parent_path();
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

}  // namespace easgate::service
