#!/bin/sh
# Writes easgate(1), gzipped, from the program's own --help texts (help2man), so the manual
# page says what the program says. Usage: make-manpage.sh <easgate binary> <output .1.gz>
set -eu
binary=$1
output=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each command's help, preformatted, under COMMANDS.
{
  echo "[COMMANDS]"
  for command in run demo ctl doctor export audit agent pki; do
    echo ".SS \"easgate $command\""
    echo ".nf"
    "$binary" "$command" --help | sed -e 's/\\/\\\\/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
    echo ".fi"
  done
  echo "[FILES]"
  echo "/etc/easgate/easgate.json: the configuration (see /usr/share/easgate/easgate.sample.json)."
  echo ".br"
  echo "/var/lib/easgate: the store (journal, audit trail, inventory)."
  echo ".br"
  echo "/var/log/easgate/easgate.log: the log."
  echo "[SEE ALSO]"
  echo "The README at /usr/share/easgate/README.md; the 9090 protocol at GET /v1/openapi.json."
} > "$work/commands.h2m"

# help2man stamps the page with a date: the release's, from the changelog, so that the build
# is reproducible.
changelog="$(dirname "$0")/debian/changelog"
released=$(date -d "$(sed -n 's/^ -- .*>  //p' "$changelog" | head -n 1)" +%s)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$released} \
  help2man --no-info --section=1 --name="the Exchange ActiveSync policy agent" \
  --include="$work/commands.h2m" --output="$work/easgate.1" "$binary"
gzip -9n < "$work/easgate.1" > "$output"
