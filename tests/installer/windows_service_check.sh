#!/usr/bin/env bash
# The Windows package as an administrator meets it, under Wine: the MSI built from the real
# Windows binaries installs the agent and registers the service; a start without a configuration
# fails and says so to the Service Control Manager; configured, `net start easgate` brings it up,
# a Linux curl reaches https://127.0.0.1/v1/health with a client certificate, and `net stop`
# ends it with no process left behind; an upgrade keeps the configuration and the store; `/x`
# removes the program and the service and keeps the data.
#
# Usage: tests/installer/windows_service_check.sh BUILD_WINDOWS_DIR
#   WINEPREFIX  the Wine prefix to install into (default: BUILD_WINDOWS_DIR/service-check-prefix,
#               made anew)
# Needs wine64, wixl (installer/windows/build-msi.sh), openssl and curl.
set -euo pipefail

build=$(realpath "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
port=${EASGATE_CHECK_PORT:-19443}
# Debian's wine64 package: the loader and the server, no `wine` wrappers on the PATH.
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver
export WINEDEBUG=-all
if [[ -z "${WINEPREFIX:-}" ]]; then
  export WINEPREFIX=$build/service-check-prefix
  rm -rf "$WINEPREFIX"
fi
mkdir -p "$WINEPREFIX"
work=$(mktemp -d)
program_files="$WINEPREFIX/drive_c/Program Files/easgate"
data="$WINEPREFIX/drive_c/ProgramData/easgate"

step() { printf -- '-- %s\n' "$*"; }
fail() {
  printf 'windows service check: FAIL: %s\n' "$*" >&2
  [[ -f "$data/easgate.log" ]] && { echo "--- the agent's log:" >&2; tail -n 20 "$data/easgate.log" >&2; }
  exit 1
}
agent_processes() { pgrep -f '\\easgate(-exchange-sim)?\.exe' || true; }
# `sc query easgate`. Wine's sc.exe now and then prints nothing while the service manager is
# busy: ask again.
sc_query() {
  local out=""
  for _ in $(seq 1 10); do
    out=$("$wine" sc query easgate 2>/dev/null | tr -d '\r') || true
    [[ -n "$out" ]] && break
    sleep 0.2
  done
  printf '%s\n' "$out"
}
service_state() { sc_query | awk '/ STATE / {print $4}'; }
# `net start|stop easgate`, its output in $work/net.txt. Wine's net.exe, like its sc.exe, at times
# cannot open the service while the manager is busy ("Could not get handle", "Service
# database locked"): try again then.
net() {
  local status
  for _ in $(seq 1 10); do
    status=0
    "$wine" net "$1" easgate >"$work/net.txt" 2>&1 || status=$?
    grep -Eq "Could not get handle|database locked" "$work/net.txt" || break
    sleep 0.5
  done
  cat "$work/net.txt"
  return "$status"
}
cleanup() {
  "$wine" net stop easgate >/dev/null 2>&1 || true
  "$wineserver" -k 2>/dev/null || true
  pkill -9 -f 'easgate(-exchange-sim)?\.exe' 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The SCM must outlive each wine command (a fresh one per command would start and stop the
# service manager around every step), and the prefix must say Windows 10 for the MSI's
# launch condition.
"$wineserver" -k 2>/dev/null || true
"$wineserver" -p
"$wine" wineboot --init >/dev/null 2>&1
"$wine" winecfg -v win10 >/dev/null 2>&1

version=$(sed -n 's/^project(easgate VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
next=$(awk -F. '{printf "%d.%d.%d", $1, $2, $3 + 1}' <<<"$version")
step "the MSI from the Windows build's binaries: easgate $version, and $next to upgrade to"
"$repo/installer/windows/build-msi.sh" "$build/bin" "$work/easgate.msi" "$version"
"$repo/installer/windows/build-msi.sh" "$build/bin" "$work/easgate-next.msi" "$next"
msi() { # ACTION MSI LOG: msiexec quietly, with its log kept for a failure
  local started=$SECONDS
  # WINE_TEST=1 skips the three sc.exe settings Wine lacks (failure actions, failure flag,
  # service SID type); the MSI honours it only where Wine's registry key is (easgate.wxs).
  if ! "$wine" msiexec "$1" "Z:${2//\//\\}" /qn WINE_TEST=1 /l*v "Z:${3//\//\\}"; then
    grep -E "Return value 3|error|Error" "$3" | tail -n 20 >&2 || true
    fail "msiexec $1 $(basename "$2") failed"
  fi
  echo "msiexec $1 $(basename "$2"): $((SECONDS - started)) s"
  # Wine's service manager stays locked after msiexec changed services ("Could not get handle
  # to service" to every net.exe after): restart Wine, as Windows would be restarted. Automatic
  # services, easgate among them, start again with it.
  "$wineserver" -k
  "$wineserver" -p
  "$wine" sc query easgate >/dev/null 2>&1 || true
}

step "install"
msi /i "$work/easgate.msi" "$work/install.log"
for f in easgate.exe easgate-exchange-sim.exe bridge.ps1 easgate.sample.json; do
  [[ -f "$program_files/$f" ]] || fail "C:\\Program Files\\easgate\\$f is missing"
done
[[ -f "$data/easgate.json" ]] || fail "C:\\ProgramData\\easgate\\easgate.json is missing"
image=$("$wine" reg query 'HKLM\System\CurrentControlSet\Services\easgate' /v ImagePath | tr -d '\r')
grep -qF 'C:\Program Files\easgate\easgate.exe run --config "C:\ProgramData\easgate\easgate.json"' <<<"$image" ||
  fail "the service's command line is not the agent's: $image"
"$wine" reg query 'HKLM\System\CurrentControlSet\Services\EventLog\Application\easgate' >/dev/null ||
  fail "no Event Log source easgate"
# (Wine's service manager may try an automatic service at once; it fails as below.)
for _ in $(seq 1 150); do [[ "$(service_state)" == STOPPED ]] && break; sleep 0.2; done
[[ "$(service_state)" == STOPPED ]] || fail "the service is $(service_state) before it was configured"

step "a start with the installed configuration (no certificates yet) fails, and the SCM says why"
# What counts is the manager's record: Wine's net.exe reports success once the start is under way.
net start || true
for _ in $(seq 1 150); do [[ "$(service_state)" == STOPPED ]] && break; sleep 0.2; done
query=$(sc_query)
grep -Eq 'WIN32_EXIT_CODE *: *1066' <<<"$query" ||
  fail "the SCM was not told of a service-specific failure: $query"
grep -Eq 'SERVICE_EXIT_CODE *: *2 ' <<<"$query" || fail "the exit code is not 2 (configuration): $query"
for _ in $(seq 1 50); do [[ -z "$(agent_processes)" ]] && break; sleep 0.2; done
[[ -z "$(agent_processes)" ]] || fail "a failed start left processes: $(ps -o args= -p "$(agent_processes | paste -sd,)")"

step "configure: a CA, the agent's certificate, an MDM client certificate, in a folder with a space"
tls="$data/tls certs"
mkdir -p "$tls"
source "$repo/tests/installer/test_pki.sh"
issue_test_pki "$tls" "$work"
# Windows paths as an administrator writes them: backslashes (escaped in JSON) and a space.
cat >"$data/easgate.json" <<JSON
{
  "listen": { "address": "127.0.0.1", "port": $port },
  "tls": { "certificate": "C:\\\\ProgramData\\\\easgate\\\\tls certs\\\\server.pem",
           "key": "C:\\\\ProgramData\\\\easgate\\\\tls certs\\\\server.key",
           "client_ca": "C:\\\\ProgramData\\\\easgate\\\\tls certs\\\\mdm-ca.pem" },
  "clients": [ { "subject": "CN=ci-admin", "role": "admin" } ],
  "exchange": { "kind": "simulator", "simulator_arguments": ["--mailboxes=40", "--devices=80"] },
  "log": { "file": "easgate.log", "system_log": true }
}
JSON
api() { curl -sS --max-time 5 --cacert "$tls/mdm-ca.pem" --cert "$work/admin.pem" \
          --key "$work/admin.key" "https://127.0.0.1:$port$1"; }

start_and_reach() {
  local started=$SECONDS
  # (After a restart of Wine the automatic service may be up already.)
  [[ "$(service_state)" == RUNNING ]] || net start || fail "net start easgate failed"
  for _ in $(seq 1 150); do [[ "$(service_state)" == START_PENDING ]] || break; sleep 0.2; done
  [[ "$(service_state)" == RUNNING ]] || fail "the service is $(service_state), not RUNNING"
  for _ in $(seq 1 100); do api /v1/health >"$work/health.json" 2>/dev/null && break; sleep 0.2; done
  grep -q '"status":"ok"' "$work/health.json" || fail "no health answer over TLS: $(cat "$work/health.json")"
  echo "started and answering over TLS in $((SECONDS - started)) s: $(cat "$work/health.json")"
  for _ in $(seq 1 100); do
    api '/v1/devices?limit=5' >"$work/devices.json" 2>/dev/null && grep -q '"deviceId"' "$work/devices.json" && break
    sleep 0.2
  done
  grep -q '"deviceId"' "$work/devices.json" || fail "the agent served no devices after its first harvest"
  # Bridges start when first used: a harvest asks 32 mailboxes' statistics of one bridge at a
  # time, so a small organisation needs fewer than the pool's 4.
  local running; running=$(agent_processes | wc -l)
  (( running >= 2 && running <= 5 )) || fail "expected the agent and 1 to 4 simulator bridges: $running processes"
  echo "the agent and $((running - 1)) simulator bridge(s) running"
}

stop_cleanly() {
  local started=$SECONDS
  net stop || fail "net stop easgate failed"
  for _ in $(seq 1 150); do
    [[ "$(service_state)" == STOPPED && -z "$(agent_processes)" ]] && break
    sleep 0.2
  done
  [[ "$(service_state)" == STOPPED ]] || fail "the service is $(service_state) after net stop"
  [[ -z "$(agent_processes)" ]] || fail "net stop left processes behind: $(ps -o args= -p "$(agent_processes | paste -sd,)")"
  echo "stopped with nothing left running in $((SECONDS - started)) s"
}

step "net start easgate, then the API from Linux over TLS with a client certificate"
start_and_reach
grep -q 'easgate: stopped' "$data/easgate.log" && fail "the log says stopped before the stop"
step "net stop easgate"
stop_cleanly
grep -q 'easgate: stopped' "$data/easgate.log" || fail "the log does not say the agent stopped"
[[ -f "$data/easgate.db" ]] || fail "the store is not in C:\\ProgramData\\easgate"

step "upgrade to $next over the running service: the configuration and the store stay"
net start >/dev/null || fail "net start before the upgrade failed"
cp "$data/easgate.json" "$work/easgate.json.before"
msi /i "$work/easgate-next.msi" "$work/upgrade.log"
cmp -s "$data/easgate.json" "$work/easgate.json.before" || fail "the upgrade replaced the edited easgate.json"
[[ -f "$data/easgate.db" ]] || fail "the upgrade removed the store"
"$wine" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null | tr -d '\r' |
  grep -E 'DisplayVersion +REG_SZ' >"$work/versions.txt" || true
grep -q "$next" "$work/versions.txt" || fail "easgate $next is not registered after the upgrade: $(cat "$work/versions.txt")"
if grep -q "$version\$" "$work/versions.txt"; then fail "easgate $version is still registered beside $next"; fi
[[ "$(service_state)" == STOPPED ]] || net stop >/dev/null
for _ in $(seq 1 50); do [[ -z "$(agent_processes)" ]] && break; sleep 0.2; done
[[ -z "$(agent_processes)" ]] || fail "the upgrade left the old agent running"
start_and_reach
stop_cleanly

step "uninstall: the program and the service go, the configuration and the store stay"
msi /x "$work/easgate-next.msi" "$work/uninstall.log"
[[ ! -e "$program_files/easgate.exe" ]] || fail "easgate.exe is still installed"
if "$wine" reg query 'HKLM\System\CurrentControlSet\Services\easgate' >/dev/null 2>&1; then
  fail "the service is still registered"
fi
[[ -z "$(agent_processes)" ]] || fail "the uninstall left processes behind"
[[ -f "$data/easgate.json" && -f "$data/easgate.db" ]] || fail "the uninstall removed the data"
echo "windows service check: passed"
