#!/bin/sh
# Runs `easgate demo` on a free port, then tests its status page in headless Chromium.
# Usage: run_status_page_test.sh <easgate binary> <work dir>. Exit 77 (ctest: skipped) when
# Chromium, Node.js or playwright-core is not installed, saying so loudly.
set -eu
easgate=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v node > /dev/null || [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "SKIPPED LOUDLY: the status page test needs Debian's chromium, node and" >&2
  echo "  'npm ci --prefix tests/browser' (playwright-core); .ci/run installs them" >&2
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
"$easgate" demo --dir "$work/demo" --port "$port" --mailboxes 60 > "$work/demo.out" 2> "$work/demo.log" &
demo=$!
trap 'kill $demo 2> /dev/null; wait $demo 2> /dev/null || true' EXIT
# Up when its first full harvest is in the status.
i=0
until "$easgate" ctl --url "https://localhost:$port" --ca "$work/demo/pki/ca.pem" \
    --cert "$work/demo/pki/reader.pem" --key "$work/demo/pki/reader.key" status 2> /dev/null |
    grep -q '"full":{'; do
  i=$((i + 1))
  if [ $i -gt 300 ]; then
    echo "the demo did not come up:" >&2
    cat "$work/demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
NODE_EXTRA_CA_CERTS="$work/demo/pki/ca.pem" node "$here/status_page.mjs" \
  "https://localhost:$port" "$work/demo/pki" "$work/status-page.png"
