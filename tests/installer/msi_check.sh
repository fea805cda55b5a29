#!/usr/bin/env bash
# Builds the MSI with installer/windows/build-msi.sh from stand-in binaries (there is no Windows
# build here) and reads its tables back with msiinfo: what Windows Installer will do is in
# those tables, so they are what is checked. The stand-ins are never shipped; what could not
# be checked is running the MSI (installer/README.md).
#
# Usage: tests/installer/msi_check.sh   (exit 77 when wixl or msiinfo is missing: skipped)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
for tool in wixl wixl-heat msiinfo; do
  if ! command -v "$tool" >/dev/null; then
    echo "*** SKIPPED: no $tool (Debian packages wixl and msitools); the MSI was not built ***"
    exit 77
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "msi check: FAIL: $*" >&2; exit 1; }

mkdir "$work/payload"
for f in easgate.exe easgate-exchange-sim.exe cpprest_2_10.dll libcrypto-3-x64.dll; do
  echo "stand-in for $f" >"$work/payload/$f"
done
"$repo/installer/windows/build-msi.sh" "$work/payload" "$work/easgate.msi" 9.8.7

table() { msiinfo export "$work/easgate.msi" "$1" | tr -d '\r' | tail -n +4; }
# The row of TABLE whose first column is KEY, tab-separated.
row() { table "$1" | awk -F'\t' -v key="$2" '$1 == key'; }
expect_row() { # TABLE KEY EXPECTED-ROW
  local got
  got=$(row "$1" "$2")
  [[ "$got" == "$3" ]] || fail "$1 $2 is
  '$got', expected
  '$3'"
}
property() { row Property "$1" | cut -f2; }
sequence() { row InstallExecuteSequence "$1" | cut -f3; }
tab=$'\t'

# The product, and a major upgrade that removes the old version before installing the new one.
[[ $(property ProductVersion) == 9.8.7 ]] || fail "ProductVersion is $(property ProductVersion)"
[[ $(property UpgradeCode) == "{6F0C2F64-4B8E-4D0E-9D1A-3C2F1B7F2A10}" ]] || fail "the UpgradeCode changed"
table Upgrade | grep -q "WIX_UPGRADE_DETECTED" || fail "no major upgrade"
(($(sequence RemoveExistingProducts) < $(sequence InstallInitialize))) ||
  fail "the old version is not removed before the new one installs"

# Files: the programs and their DLLs in Program Files, with the default configuration, which a
# custom action copies to ProgramData only where there is none (never replaced, never removed).
for f in easgate.exe easgate-exchange-sim.exe bridge.ps1 easgate.sample.json easgate.default.json \
         cpprest_2_10.dll libcrypto-3-x64.dll; do
  table File | cut -f3 | grep -qx "$f" || fail "the MSI does not install $f"
done
table File | cut -f3 | grep -qx "easgate.json" && fail "the MSI installs easgate.json itself: an upgrade would replace an edited one"
expect_row Directory DATADIR "DATADIR${tab}CommonAppDataFolder${tab}easgate"
expect_row Directory INSTALLDIR "INSTALLDIR${tab}ProgramFiles64Folder${tab}easgate"

# The service: own process (16), automatic start (2), normal error control (1), as
# SERVICE_ACCOUNT, with the configuration in ProgramData; stopped on install and uninstall,
# deleted on uninstall (2 + 32 + 128 = 162), waited for.
service_description=$(row ServiceInstall Service | cut -f13)
expect_row ServiceInstall Service "Service${tab}easgate${tab}easgate${tab}16${tab}2${tab}1${tab}${tab}${tab}[SERVICE_ACCOUNT]${tab}[SERVICE_PASSWORD]${tab}run --config \"[DATADIR]easgate.json\"${tab}Agent${tab}${service_description}"
expect_row ServiceControl Service "Service${tab}easgate${tab}162${tab}${tab}1${tab}Agent"
[[ $(property SERVICE_ACCOUNT) == 'NT AUTHORITY\NetworkService' ]] || fail "the default account is $(property SERVICE_ACCOUNT)"

# The Event Log source, with the message file whose message 1000 is "%1".
eventlog='SYSTEM\CurrentControlSet\Services\EventLog\Application\easgate'
table Registry | grep -qF "2${tab}${eventlog}${tab}EventMessageFile${tab}[System64Folder]mscoree.dll${tab}Agent" ||
  fail "no EventMessageFile for the Event Log source"
table Registry | grep -qF "2${tab}${eventlog}${tab}TypesSupported${tab}#7${tab}Agent" ||
  fail "no TypesSupported for the Event Log source"

# Custom actions: deferred, elevated (3122 = 50 + in-script 1024 + no-impersonate 2048; 3186
# adds 64, ignore the exit code), each run by a tool whose path an earlier action (type 51)
# set, and each between InstallInitialize and InstallFinalize.
check_action() { # NAME TYPE TOOL-PROPERTY WORDS-IN-COMMAND CONDITION
  local r
  r=$(row CustomAction "$1")
  [[ $(cut -f2 <<<"$r") == "$2" && $(cut -f3 <<<"$r") == "$3" ]] || fail "custom action $1 is '$r'"
  grep -qF -- "$4" <<<"$(cut -f4 <<<"$r")" || fail "custom action $1 does not run '$4': '$r'"
  local at
  at=$(sequence "$1")
  [[ -n "$at" ]] && ((at > $(sequence InstallInitialize) && at < $(sequence InstallFinalize))) ||
    fail "custom action $1 is at '$at', outside InstallInitialize..InstallFinalize"
  [[ $(row InstallExecuteSequence "$1" | cut -f2) == "$5" ]] || fail "custom action $1 runs when '$(row InstallExecuteSequence "$1" | cut -f2)'"
  local setter
  setter=$(table CustomAction | awk -F'\t' -v p="$3" '$2 == 2099 && $3 == p {print $1}')
  [[ -n "$setter" ]] && (($(sequence "$setter") < $(sequence InstallValidate))) ||
    fail "nothing sets $3 before InstallValidate"
}
check_action CreateConfiguration 3122 CMD_EXE '/c if not exist "[DATADIR]easgate.json" copy /y "[INSTALLDIR]easgate.default.json" "[DATADIR]easgate.json"' "NOT REMOVE"
# WINE_TEST skips these three only where Wine's registry key is (found by AppSearch).
wine_only='NOT REMOVE AND NOT (WINE_TEST AND WINE_DETECTED)'
check_action ServiceRecovery 3122 SC_EXE "failure easgate reset= 86400 actions= restart/5000/restart/30000/restart/60000" "$wine_only"
check_action ServiceRecoveryOnError 3122 SC_EXE "failureflag easgate 1" "$wine_only"
check_action ServiceSid 3122 SC_EXE "sidtype easgate unrestricted" "$wine_only"
table RegLocator | grep -qF "WineRegistry${tab}2${tab}Software\Wine\LicenseInformation" ||
  fail "WINE_DETECTED is not read from Wine's own registry key"
check_action DataAcl 3122 ICACLS_EXE '"[DATADIR]." /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F "NT SERVICE\easgate:(OI)(CI)M"' "NOT REMOVE"
check_action FirewallReset 3186 NETSH_EXE "advfirewall firewall delete rule name=easgate" "NOT REMOVE"
check_action FirewallAdd 3122 NETSH_EXE 'add rule name=easgate dir=in action=allow protocol=TCP localport=[FIREWALL_PORT] program="[#easgate.exe]"' "NOT REMOVE"
check_action FirewallRemove 3186 NETSH_EXE "advfirewall firewall delete rule name=easgate" 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE'
(($(sequence CreateConfiguration) > $(sequence InstallFiles))) || fail "the configuration is copied before the default one is installed"
(($(sequence ServiceRecovery) > $(sequence InstallServices))) || fail "the recovery is set before the service exists"
(($(sequence DataAcl) > $(sequence ServiceSid))) || fail "the ACL names NT SERVICE\\easgate before it exists"
(($(sequence FirewallReset) < $(sequence FirewallAdd))) || fail "the old firewall rule is deleted after the new one is added"

# The names the MSI uses are the agent's: its service name and Event Log source, and the port
# of the default configuration.
grep -q 'runAsService("easgate"' "$repo/service/run_command.cpp" || fail "the agent's service name is not 'easgate'"
grep -q 'setupLogging(c.log, "easgate")' "$repo/service/run_command.cpp" || fail "the agent's Event Log source is not 'easgate'"
port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$repo/installer/windows/easgate.json")
[[ $(property FIREWALL_PORT) == "$port" ]] || fail "the firewall opens $(property FIREWALL_PORT), the configuration listens on $port"

echo "msi check: passed ($(table File | wc -l) files, $(table CustomAction | wc -l) custom actions)"
