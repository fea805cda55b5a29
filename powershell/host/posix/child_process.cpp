#include "powershell/host/child_process.h"

#include <boost/process.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>  // sigabbrev_np
#include <mutex>
#include <string>
#include <system_error>

namespace easgate::powershell {
namespace bp = boost::process;

bp::pipe makeChildPipe() {
  // O_CLOEXEC at creation, not fcntl after: another thread may fork in between. dup2 onto the
  // child's 0, 1 or 2 clears the flag on that copy, so the child keeps its stdio.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  return bp::pipe(fds[0], fds[1]);
}

bp::child startChild(const BridgeCommand& command, const bp::environment& environment, bp::pipe& in,
                     bp::pipe& out, bp::pipe& err) {
  // A request written to a bridge that has died (crashed, killed by the OOM killer) meets a
  // broken pipe; SIGPIPE's default would end the whole agent there. Ignored, the write fails
  // with EPIPE and the bridge is reported dead and replaced. Sockets need no such care (Asio
  // sends with MSG_NOSIGNAL); a process that starts bridges never wants the signal.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  // execve takes the arguments as a list: nothing to quote.
  return bp::child(bp::exe = command.program, bp::args = command.arguments, environment,
                   bp::std_in<in, bp::std_out> out, bp::std_err > err);
}

int shellExitStatus(const bp::child& ended) {
  const int status = ended.native_exit_code();
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

std::string describeExit(const bp::child& ended) {
  const int status = ended.native_exit_code();
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    // sigabbrev_np (glibc 2.32) is thread-safe, where strsignal may share a buffer.
    const char* name = ::sigabbrev_np(signal);
    return "was ended by signal " + std::to_string(signal) +
           (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace easgate::powershell
