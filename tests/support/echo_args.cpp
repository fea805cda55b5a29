// easgate-test-echo-args: writes each of its arguments (argv[1] on) to stdout, each followed by
// a NUL byte, exactly as its C runtime received them. The child_process tests start it the way
// a bridge is started and compare; on Windows that checks the command line's quoting end to end.
#include <cstdio>
#include <cstring>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

int main(int argc, char** argv) {
#ifdef _WIN32
  _setmode(_fileno(stdout), _O_BINARY);  // no "\n" to "\r\n" on the way out
#endif
  for (int i = 1; i < argc; ++i) std::fwrite(argv[i], 1, std::strlen(argv[i]) + 1, stdout);
  return 0;
}
