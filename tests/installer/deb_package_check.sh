#!/usr/bin/env bash
# Installs the easgate .deb on this machine and uses it as an administrator would: configure,
# doctor, run the agent exactly as the systemd unit does, export, upgrade, remove, purge. Then
# checks that purge left nothing behind but the administrator's own files.
#
# Needs root and a machine without easgate installed (CI's). systemd need not be running: the
# agent is started with the unit's ExecStart, User= and NoNewPrivileges= by hand.
#
# Usage: tests/installer/deb_package_check.sh build/easgate_VERSION_ARCH.deb
set -euo pipefail

deb=$(realpath "$1")
port=${EASGATE_CHECK_PORT:-19090}
unit=/usr/lib/systemd/system/easgate.service
config=/etc/easgate/easgate.json

step() { printf -- '-- %s\n' "$*"; }
fail() { printf 'deb check: FAIL: %s\n' "$*" >&2; exit 1; }
expect_mode() { # PATH OWNER:GROUP MODE
  local got
  got=$(stat -c '%U:%G %a' "$1")
  [[ "$got" == "$2 $3" ]] || fail "$1 is $got, expected $2 $3"
}

[[ $(id -u) -eq 0 ]] || { echo "deb check: needs root (it installs a package)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' easgate 2>/dev/null | grep -q installed; then
  echo "deb check: easgate is installed on this machine already; not touching it" >&2
  exit 2
fi

for d in /etc/easgate /var/lib/easgate /var/log/easgate; do
  if [[ -e "$d" ]]; then
    ls -la "$d" >&2
    echo "deb check: $d exists before the install (above); remove what an earlier install left" >&2
    exit 2
  fi
done

work=$(mktemp -d)
agent_pid=""
installed=""
# On a failure, leave the machine as it was found, so that the check can run again.
cleanup() {
  [[ -n "$agent_pid" ]] && kill "$agent_pid" 2>/dev/null || true
  if [[ -n "$installed" ]]; then
    dpkg -P easgate >/dev/null 2>&1 || true
    rm -rf /etc/easgate
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Every path on the system that names easgate, outside this checkout and the scratch folders.
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
leftovers() {
  find /etc /usr /var /opt /srv /home /root -xdev \
    \( -path "$repo" -o -path /var/lib/dpkg -o -path /var/cache -o -path /var/tmp -o -path /root/.cache \
       -o -path /root/.nuget -o -path /root/.dotnet \) -prune -o -path '*easgate*' -print 2>/dev/null | sort
}
before=$(leftovers)

step "install $(basename "$deb")"
installed=yes
dpkg -i "$deb"
[[ $(readlink -f /usr/bin/easgate) == /usr/lib/easgate/easgate ]] || fail "/usr/bin/easgate is not the agent"
easgate --version
for f in /usr/lib/easgate/easgate-exchange-sim /usr/lib/easgate/bridge.ps1 "$unit" \
         /usr/share/easgate/easgate.sample.json /usr/share/doc/easgate/copyright \
         /usr/share/doc/easgate/changelog.gz /usr/share/man/man1/easgate.1.gz; do
  [[ -f "$f" ]] || fail "$f is missing"
done
# The manual page is the program's own help: its commands are in it.
zcat /usr/share/man/man1/easgate.1.gz | grep -q 'easgate export' || fail "easgate(1) lacks export"
getent passwd easgate | grep -q ':/var/lib/easgate:/usr/sbin/nologin$' || fail "no easgate system user"
expect_mode /etc/easgate root:easgate 750
expect_mode /etc/easgate/tls root:easgate 750
expect_mode /var/lib/easgate easgate:easgate 750
expect_mode /var/log/easgate easgate:adm 2750
[[ -L /etc/systemd/system/multi-user.target.wants/easgate.service ]] || fail "the unit is not enabled"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit"
  systemd-analyze security --offline=true "$unit" | tail -n 1
fi

step "configure: a CA, the agent's certificate, an MDM client certificate, easgate.json"
tls=/etc/easgate/tls
source "$(dirname "$0")/test_pki.sh"
issue_test_pki "$tls" "$work"
cat >"$config" <<JSON
{
  "data_dir": "/var/lib/easgate",
  "listen": { "address": "127.0.0.1", "port": $port },
  "tls": { "certificate": "$tls/server.pem", "key": "$tls/server.key",
           "client_ca": "$tls/mdm-ca.pem" },
  "clients": [ { "subject": "CN=ci-admin", "role": "admin" } ],
  "exchange": { "kind": "simulator", "simulator_arguments": ["--mailboxes=40", "--devices=80"] },
  "log": { "file": "/var/log/easgate/easgate.log", "system_log": false }
}
JSON
chgrp -R easgate /etc/easgate
chmod 0640 "$config" "$tls"/*

step "doctor as root: no store file is made for root"
easgate doctor --config "$config" | tee "$work/doctor-root.txt"
grep -q "store not opened: /var/lib/easgate belongs to 'easgate'" "$work/doctor-root.txt" ||
  fail "doctor as root did not warn about the service's data directory"
[[ -z $(ls -A /var/lib/easgate) ]] || { ls -la /var/lib/easgate; fail "doctor as root left files in /var/lib/easgate (above)"; }

step "doctor as the service's user"
runuser -u easgate -- easgate doctor --config "$config"

step "the agent as the unit runs it: $(grep '^ExecStart=' "$unit")"
read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
user=$(sed -n 's/^User=//p' "$unit")
[[ "$user" == easgate ]] || fail "the unit runs as '$user'"
(umask 0027; cd /var/lib/easgate
 exec env -i HOME=/var/lib/easgate PATH=/usr/sbin:/usr/bin:/sbin:/bin \
   setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs --inh-caps=-all \
   "${exec_start[@]}") &
agent_pid=$!
ctl() { easgate ctl --url "https://localhost:$port" --ca "$tls/mdm-ca.pem" \
          --cert "$work/admin.pem" --key "$work/admin.key" "$@"; }
for _ in $(seq 1 100); do
  ctl health >/dev/null 2>&1 && break
  kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited while starting"
  sleep 0.1
done
ctl status
for _ in $(seq 1 100); do
  ctl devices --limit 5 >"$work/devices.json" 2>/dev/null && grep -q '"deviceId"' "$work/devices.json" && break
  sleep 0.1
done
grep -q '"deviceId"' "$work/devices.json" || fail "the agent served no devices after its first harvest"
for db in easgate.db easgate-mailboxes.db easgate-inventory.db; do
  [[ $(stat -c %U "/var/lib/easgate/$db") == easgate ]] || fail "$db is not the service's"
  [[ $(stat -c %a "/var/lib/easgate/$db") == 600 ]] || fail "$db is readable by others: $(stat -c %a "/var/lib/easgate/$db")"
done
kill -TERM "$agent_pid"
wait "$agent_pid" || fail "the agent did not stop cleanly on SIGTERM (exit $?)"
agent_pid=""
grep -q . /var/log/easgate/easgate.log || fail "the agent wrote no log"

step "export from the installed paths, as the service's user"
runuser -u easgate -- easgate export --live --exchange simulator --data-dir /var/lib/easgate \
  --format csv --quiet >"$work/inventory.csv"
rows=$(($(wc -l <"$work/inventory.csv") - 1))
head -n 1 "$work/inventory.csv" | grep -q ',DeviceId,' || fail "the export has no CSV header"
((rows > 0)) || fail "the export has no devices"
echo "export: $rows devices"

step "upgrade to a newer version of the same package"
mkdir "$work/repack"
dpkg-deb -R "$deb" "$work/repack/root"
sed -i 's/^Version: .*/&+cicheck1/' "$work/repack/root/DEBIAN/control"
dpkg-deb -b "$work/repack/root" "$work/repack/easgate-next.deb" >/dev/null
uid_before=$(id -u easgate)
dpkg -i "$work/repack/easgate-next.deb"
dpkg-query -W -f='${Version}\n' easgate | grep -q '+cicheck1$' || fail "the upgrade did not install"
[[ $(id -u easgate) == "$uid_before" ]] || fail "the upgrade made a new user"
[[ -f "$config" && -f "$tls/server.key" ]] || fail "the upgrade lost the configuration"
again=$(runuser -u easgate -- easgate export --data-dir /var/lib/easgate --format csv --quiet | wc -l)
[[ "$again" -eq "$((rows + 1))" ]] || fail "the store after the upgrade holds $((again - 1)) devices, not $rows"

step "remove: the program goes, configuration and data stay"
dpkg -r easgate
for gone in /usr/lib/easgate /usr/bin/easgate "$unit"; do
  [[ ! -e "$gone" ]] || fail "$gone is still there after remove"
done
[[ -f /var/lib/easgate/easgate.db && -f "$config" ]] || fail "remove took the data or the configuration"
getent passwd easgate >/dev/null || fail "remove took the service's user"

step "purge: the data, the logs and the user go; the administrator's files in /etc/easgate stay"
dpkg -P easgate
getent passwd easgate >/dev/null && fail "the easgate user survived purge"
getent group easgate >/dev/null && fail "the easgate group survived purge"
expected=$(printf '%s\n' /etc/easgate /etc/easgate/easgate.json /etc/easgate/tls \
  /etc/easgate/tls/mdm-ca.pem /etc/easgate/tls/server.key \
  /etc/easgate/tls/server.pem | sort)
after=$(leftovers | grep -v -x -F -f <(printf '%s\n' "$before") || true)
if [[ "$after" != "$expected" ]]; then
  diff <(echo "$expected") <(echo "$after") || true
  fail "purge left other files than the administrator's (above: - expected, + found)"
fi
[[ $(stat -c %G "$config") == root ]] || fail "the kept files still carry the purged group"
rm -rf /etc/easgate
installed=""
[[ "$(leftovers)" == "$before" ]] || fail "something named easgate is left"
echo "deb check: passed"
