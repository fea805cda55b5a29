#include "service/service_host.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "service/console.h"

namespace easgate::service {
namespace {

// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. Outside systemd it does
// nothing.
void notifySystemd(const std::string& message) {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (!socket_path || !*socket_path) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::size_t length = std::strlen(socket_path);
  if (length >= sizeof address.sun_path) return;
  std::memcpy(address.sun_path, socket_path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';  // an abstract socket
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
           reinterpret_cast<const sockaddr*>(&address),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  ::close(fd);
}

class PosixServiceEvents final : public ServiceEvents {
 public:
  explicit PosixServiceEvents(std::string name) : name_(std::move(name)) {}

  void onStop(std::function<void()> stop) override { onStopRequest(std::move(stop)); }
  void ready(const std::string& status) override {
    notifySystemd("READY=1\nSTATUS=" + status + "\nMAINPID=" + std::to_string(::getpid()));
  }
  void stopping() override { notifySystemd("STOPPING=1"); }
  void startFailed(const std::string& why) override {
    std::cerr << name_ << ": cannot start: " << why << "\n";
    ::openlog(name_.c_str(), LOG_PID, LOG_DAEMON);
    ::syslog(LOG_ERR, "cannot start: %s", why.c_str());
    ::closelog();
    notifySystemd("STATUS=cannot start: " + why);
  }

 private:
  std::string name_;
};

}  // namespace

int runAsService(const std::string& name, const std::function<int(ServiceEvents&)>& body) {
  PosixServiceEvents events(name);
  return body(events);
}

}  // namespace easgate::service
