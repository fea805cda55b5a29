// Linked into the agent's tests: spdlog's default logger is created here, on the main thread,
// before any test starts a thread, as the agent itself does (service/logging.cpp).
//
// Debian's libspdlog is a shared library built without ThreadSanitizer; it creates its registry
// on first use under a guard ThreadSanitizer cannot see. Created first by a worker (a test's
// agent loop, say), the main thread's next log line reads the registry's strings and is
// reported as racing with their allocation. Created before main, no thread races it. (The tests
// link spdlog::spdlog, so this is the library's registry, not a header-only copy of it.)
#include <spdlog/spdlog.h>

namespace {

const bool kLoggerReady = [] {
  spdlog::default_logger();
  return true;
}();

}  // namespace
