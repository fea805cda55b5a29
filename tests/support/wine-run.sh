#!/bin/sh
# ctest's emulator for the Windows test executables (tests/CMakeLists.txt): runs one under Wine.
# Usage: wine-run.sh <wine64> <program.exe> [arguments...]
#
# Wine now and then starts nothing when several programs start at once: seen once in CI, a test
# that failed in 0.01 s without a single line of output (not even GoogleTest's first), and passed
# when run again. Then, and only then (a failure with nothing on standard output), the program is
# started once more, and the retry is said on standard error so the log shows it. A test that ran
# and failed is never retried.
set -u
wine=$1
shift
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$wine" "$@" >"$out" 2>"$err"
status=$?
if [ "$status" -ne 0 ] && [ ! -s "$out" ]; then
  echo "wine-run: Wine started nothing for $1 (exit $status, no output); starting it again" >&2
  cat "$err" >&2
  "$wine" "$@" >"$out" 2>"$err"
  status=$?
fi
cat "$out"
cat "$err" >&2
exit "$status"
