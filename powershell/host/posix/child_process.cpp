#include "powershell/host/child_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace easgate::powershell {

boost::process::pipe makeChildPipe() {
  // O_CLOEXEC at creation, not fcntl after: another thread may fork in between. dup2 onto the
  // child's 0, 1 or 2 clears the flag on that copy, so the child keeps its stdio.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  return boost::process::pipe(fds[0], fds[1]);
}

}  // namespace easgate::powershell
