#!/usr/bin/env bash
# Builds the easgate MSI with Debian's wixl (package wixl) from a folder of Windows binaries.
#
# Usage: installer/windows/build-msi.sh PAYLOAD_DIR OUT.msi [VERSION]
#   PAYLOAD_DIR  the Windows build's output: easgate.exe, easgate-exchange-sim.exe and every DLL
#                they load (each *.dll there becomes a component of its own)
#   VERSION      default: the version in CMakeLists.txt
# bridge.ps1, the default configuration and the documentation come from this checkout.
#
# Fails on any wixl warning: wixl ignores attributes it does not know with only a warning, and
# the MSI would then lack what the source asks for.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [[ $# -lt 2 ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
payload=$(cd "$1" && pwd)
out=$2
version=${3:-$(sed -n 's/^project(easgate VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")}
for f in easgate.exe easgate-exchange-sim.exe; do
  [[ -f "$payload/$f" ]] || { echo "build-msi: $payload/$f is missing" >&2; exit 2; }
done

out=$(realpath -m "$out")

# wixl takes a File's Source relative to the .wxs that names it, so both sources sit in one
# scratch folder and every path is given relative to it.
work=$(mktemp -d)
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$work"' EXIT
cp "$here/easgate.wxs" "$work/"
payload_rel=$(realpath --relative-to="$work" "$payload")
(cd "$payload" && find . -maxdepth 1 -iname '*.dll' -printf "$payload_rel/%P\n" | sort) |
  (cd "$work" && wixl-heat --prefix "$payload_rel/" --directory-ref INSTALLDIR \
    --component-group Libraries --var var.PayloadDir --win64) >"$work/libraries.wxs"

(cd "$work" && wixl --arch x64 -D Win64=yes -D "Version=$version" -D "PayloadDir=$payload_rel" \
  -D "SourceDir=$(realpath --relative-to="$work" "$repo")" \
  -o "$out" easgate.wxs libraries.wxs) 2>"$work/wixl.log" || {
  cat "$work/wixl.log" >&2
  exit 1
}
if [[ -s "$work/wixl.log" ]]; then
  cat "$work/wixl.log" >&2
  echo "build-msi: wixl warned (above); the MSI would not be what easgate.wxs says" >&2
  rm -f "$out"
  exit 1
fi
echo "build-msi: $out (easgate $version)"
