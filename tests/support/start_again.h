#pragma once

#include <cstdio>
#include <string_view>

namespace easgate::testing {

// Wine's CreateProcess fails now and then while many programs start at once ("Internal error",
// seen in CI on tests whose other runs of the same binary had just worked). A test passes the
// start of a program here: `start` (returning a Result) is called again, at most twice, while it
// fails, and each failure is said on standard error. Only starting goes through it: what the
// program does once it runs is never tried again, so no failure of the program is hidden.
template <typename Start>
auto startTryingAgain(std::string_view program, Start&& start) {
  auto started = start();
  for (int attempt = 2; !started.ok() && attempt <= 3; ++attempt) {
    std::fprintf(stderr, "test: starting %.*s failed (%s); starting it again\n",
                 static_cast<int>(program.size()), program.data(), started.error().message.c_str());
    started = start();
  }
  return started;
}

}  // namespace easgate::testing
