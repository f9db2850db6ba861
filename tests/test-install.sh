#!/usr/bin/env bash
# Installs the build into a DESTDIR and checks that every file a user meets is
# there and valid: binaries, D-Bus activation file and interface XML, systemd
# user unit, GSettings schema, AppStream metainfo, manual pages, bash
# completion, translations, and any desktop file.
set -euo pipefail

build=${BUILD_ROOT:?}
app_id=io.github.enginemanager.EngineManager
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

failures=0
checks=0
fail () { echo "FAIL: $*"; failures=$((failures + 1)); }
pass () { checks=$((checks + 1)); }

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet

option () {
  meson introspect "$build" --buildoptions |
    /usr/bin/python3 -c "import json,sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'))"
}
prefix=$(option prefix)
root=$dest$prefix
datadir=$root/$(option datadir)
bindir=$root/$(option bindir)
mandir=$root/$(option mandir)
localedir=$root/$(option localedir)

expect_file () {
  if [ -s "$1" ]; then pass; else fail "missing or empty: ${1#$dest}"; fi
}

# binaries, and that they run
for bin in engine-manager enginectl; do
  if [ -x "$bindir/$bin" ]; then pass; else fail "missing binary $bin"; continue; fi
  if "$bindir/$bin" --version | grep -q "^$bin [0-9]"; then pass; else fail "$bin --version"; fi
done

# D-Bus activation file pointing at the installed daemon, and the interfaces
service=$datadir/dbus-1/services/$app_id.service
expect_file "$service"
if grep -qx "Name=$app_id" "$service" && grep -q "^Exec=$prefix/$(option bindir)/engine-manager" "$service"; then
  pass
else
  fail "$service does not name $app_id and the installed engine-manager"
fi
for iface in io.github.enginemanager.EngineManager1 io.github.enginemanager.Task1; do
  xml=$datadir/dbus-1/interfaces/$iface.xml
  expect_file "$xml"
  if /usr/bin/python3 -c "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.find(\"interface[@name='$iface']\") is not None" "$xml"; then
    pass
  else
    fail "$xml does not define $iface"
  fi
done

# systemd user unit, unless -Dsystemd=false (then nothing may name it)
unit=$(find "$dest" -path '*systemd/user/engine-manager.service' | head -n 1)
if [ "$(option systemd)" != True ]; then
  if [ -z "$unit" ] && ! grep -q '^SystemdService' "$service"; then pass; else fail "-Dsystemd=false installed or named a unit"; fi
elif [ -n "$unit" ]; then
  pass
  if grep -q "^BusName=$app_id" "$unit" && grep -q '^ExecStart=.*engine-manager' "$unit"; then pass; else fail "$unit: BusName or ExecStart"; fi
  if command -v systemd-analyze >/dev/null; then
    if systemd-analyze verify --user --man=no "$unit" 2>&1 | grep -v "Command .* is not executable" | grep -qi "error\|unknown"; then
      fail "systemd-analyze verify $unit"
    else
      pass
    fi
  fi
else
  fail "no systemd user unit"
fi

# GSettings schema: compiles strictly, and every key is documented
schemas=$datadir/glib-2.0/schemas
expect_file "$schemas/$app_id.gschema.xml"
if glib-compile-schemas --strict --dry-run "$schemas"; then pass; else fail "glib-compile-schemas --strict"; fi
if /usr/bin/python3 - "$schemas/$app_id.gschema.xml" <<'PY'
import sys, xml.etree.ElementTree as E
keys = E.parse(sys.argv[1]).getroot().findall("schema/key")
assert keys, "no keys"
bad = [k.get("name") for k in keys if not (k.findtext("summary") or "").strip() or not (k.findtext("description") or "").strip()]
assert not bad, f"keys without summary or description: {bad}"
PY
then pass; else fail "schema keys need a summary and a description"; fi

# AppStream
metainfo=$datadir/metainfo/$app_id.metainfo.xml
expect_file "$metainfo"
if appstreamcli validate --no-net --explain "$metainfo"; then pass; else fail "appstreamcli validate"; fi
for bin in engine-manager enginectl; do
  if grep -q "<binary>$bin</binary>" "$metainfo"; then pass; else fail "metainfo does not provide $bin"; fi
done

# desktop files, if any
while IFS= read -r desktop; do
  if desktop-file-validate "$desktop"; then pass; else fail "desktop-file-validate $desktop"; fi
done < <(find "$dest" -name '*.desktop')

# manual pages render without warnings
for page in engine-manager enginectl; do
  file=$mandir/man1/$page.1
  expect_file "$file"
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$file" 2>&1 >/dev/null || echo "man failed")
  rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$file" 2>/dev/null | col -b)
  if [ -z "$warnings" ] && grep -q "^NAME" <<<"$rendered" && grep -q "$page" <<<"$rendered"; then
    pass
  else
    fail "man -l $page.1: ${warnings:-no NAME section}"
  fi
done

# bash completion: completes commands and option values
completion=$(find "$datadir/bash-completion/completions" -name enginectl 2>/dev/null | head -n 1)
if [ -n "$completion" ] && [ -f /usr/share/bash-completion/bash_completion ]; then
  pass
  result=$(bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion
    source "$1"
    complete_line () {
      COMP_LINE=$1; COMP_POINT=${#COMP_LINE}
      read -ra COMP_WORDS <<<"$COMP_LINE"
      [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
      COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
      COMPREPLY=()
      _enginectl enginectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
      echo "${COMPREPLY[*]}"
    }
    complete_line "enginectl sch"
    complete_line "enginectl list --status c"
    complete_line "enginectl schedule capture_image --na"
    complete_line "enginectl watch -s "
    complete_line "enginectl list --status failed,c"
  ' _ "$completion" 2>&1)
  # nothing after watch -s: there it is --since, a seq, not a status
  expected=$'schedule\ncompleted cancelled\n--name\n\nfailed,completed failed,cancelled'
  if [ "$result" = "$expected" ]; then pass; else fail "bash completion gave: $result"; fi
else
  fail "no bash completion for enginectl (or bash-completion is not installed)"
fi

# translations
while IFS= read -r lang; do
  case "$lang" in ''|'#'*) continue ;; esac
  expect_file "$localedir/$lang/LC_MESSAGES/engine-manager.mo"
done < "${SOURCE_ROOT:?}/po/LINGUAS"

echo "$checks passed, $failures failed"
[ "$failures" -eq 0 ]
