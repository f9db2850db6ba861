#!/bin/bash
# the installed activation files work: a bus whose service directory holds the
# built .service file (its Exec pointed at the build tree) starts engine-manager
# on the first call to the name, and the systemd unit says what systemd needs
set -u

: "${ENGINE_MANAGER:?path of engine-manager}" "${ENGINECTL:?path of enginectl}" "${DATA_BUILDDIR:?build dir of data/}"

NAME=io.github.enginemanager.EngineManager
SERVICE_FILE=$DATA_BUILDDIR/$NAME.service
UNIT_FILE=$DATA_BUILDDIR/engine-manager.service
failures=0
fail () { echo "not ok - $*"; failures=$((failures + 1)); }
pass () { echo "ok - $*"; }
has_line () {
  if grep -qx "$2" "$1"; then pass "$(basename "$1"): $2"; else fail "$(basename "$1") lacks “$2”"; fi
}

if [ -n "${EM_TEST_FAILING_BUS:-}" ]; then
  # on a bus whose service stops at once: enginectl says where to look
  out=$("$ENGINECTL" list 2>&1)
  status=$?
  [ "$status" -ne 0 ] && pass "enginectl fails when the service cannot start" || fail "enginectl list: $out"
  echo "$out" | grep -q "engine-manager” by hand to see why" \
    && pass "and says how to see why" || fail "no hint: $out"
  exit "$failures"
fi

if [ -n "${EM_TEST_INSIDE_BUS:-}" ]; then
  # on the private bus: nobody owns the name until someone calls it
  owned=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
          --method org.freedesktop.DBus.NameHasOwner "$NAME")
  [ "$owned" = "(false,)" ] && pass "name not owned before the first call" || fail "name owned already: $owned"

  version=$(gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
            --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 Version)
  [ $? -eq 0 ] && pass "the first call started the service: $version" || fail "activation failed"

  pid=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.GetConnectionUnixProcessID "$NAME" | sed 's/^(uint32 \([0-9]*\),)$/\1/')
  exe=$(readlink "/proc/$pid/exe")
  [ "$exe" -ef "$ENGINE_MANAGER" ] && pass "the build's engine-manager runs (pid $pid)" || fail "running: $exe"
  echo "$pid" >"$EM_TEST_PID_FILE"

  id=$("$ENGINECTL" schedule wait duration=10) && "$ENGINECTL" wait "$id" >/dev/null \
    && pass "enginectl talks to the activated service" || fail "enginectl against the activated service"

  # a stopping service leaves the bus before it closes the task database: a
  # call in between has the bus start another on the same data directory,
  # which waits for the database rather than failing the call. Here one
  # without a bus name (HTTP only, on a free port) holds it, and stops a
  # moment after the call
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  "$ENGINE_MANAGER" --bus none --http-port 0 --data-dir "$EM_TEST_DATA_DIR" 2>"$EM_TEST_TMP/holder.log" &
  holder=$!
  for _ in $(seq 100); do grep -q "ready" "$EM_TEST_TMP/holder.log" && break; sleep 0.1; done
  grep -q "ready" "$EM_TEST_TMP/holder.log" || fail "the service holding the database did not start"
  gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
    --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 Version \
    >"$EM_TEST_TMP/call.out" 2>&1 &
  caller=$!
  sleep 1.5
  kill "$holder"
  wait "$holder"
  if wait "$caller"; then pass "a call while the database is still held reaches the service started for it"
  else fail "a call while the database is still held: $(cat "$EM_TEST_TMP/call.out")"; fi
  second=$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
           --method org.freedesktop.DBus.GetConnectionUnixProcessID "$NAME" | sed 's/^(uint32 \([0-9]*\),)$/\1/')
  [ -n "$second" ] && [ "$second" != "$holder" ] && pass "the activated service serves (pid $second)" ||
    fail "no activated service after the wait: “$second”"
  echo "$second" >"$EM_TEST_PID_FILE"
  exit "$failures"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# the files data/ installs"
has_line "$SERVICE_FILE" "\\[D-BUS Service\\]"
has_line "$SERVICE_FILE" "Name=$NAME"
grep -q '^Exec=/.*/engine-manager$' "$SERVICE_FILE" && pass "Exec is an absolute path" || fail "bad Exec line"
if [ "${EM_SYSTEMD_UNIT:-1}" = 1 ]; then
  has_line "$SERVICE_FILE" "SystemdService=engine-manager.service"
  has_line "$UNIT_FILE" "Type=dbus"
  has_line "$UNIT_FILE" "BusName=$NAME"
  grep -q '^ExecStart=/.*/engine-manager$' "$UNIT_FILE" && pass "ExecStart is an absolute path" || fail "bad ExecStart line"
else
  # -Dsystemd=false: no unit, so the bus must not be sent to systemd for one
  grep -q '^SystemdService' "$SERVICE_FILE" && fail "SystemdService without a unit" || pass "no SystemdService"
fi
echo "# activation on a private bus"
mkdir -p "$tmp/services" "$tmp/data"
# the same file, started from the build tree and kept off the network
sed "s|^Exec=.*|Exec=$ENGINE_MANAGER --no-http --data-dir $tmp/data|" "$SERVICE_FILE" >"$tmp/services/$NAME.service"
cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp</listen>
  <servicedir>$tmp/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF

EM_TEST_INSIDE_BUS=1 EM_TEST_PID_FILE="$tmp/pid" EM_TEST_DATA_DIR="$tmp/data" EM_TEST_TMP="$tmp" \
  dbus-run-session --config-file="$tmp/bus.conf" -- bash "$0"
inside=$?
[ "$inside" -eq 0 ] || failures=$((failures + inside))

# with the bus gone the service lost its name, and must go too
if [ -s "$tmp/pid" ]; then
  pid=$(cat "$tmp/pid")
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then fail "engine-manager outlived its bus"; kill "$pid"; else pass "engine-manager left with its bus"; fi
fi

echo "# a service that cannot start"
mkdir -p "$tmp/failing"
sed "s|^Exec=.*|Exec=$ENGINE_MANAGER --data-dir $tmp/data --http-address 999.1.1.1|" \
  "$SERVICE_FILE" >"$tmp/failing/$NAME.service"
sed "s|<servicedir>.*</servicedir>|<servicedir>$tmp/failing</servicedir>|" "$tmp/bus.conf" >"$tmp/failing.conf"
EM_TEST_FAILING_BUS=1 dbus-run-session --config-file="$tmp/failing.conf" -- bash "$0"
inside=$?
[ "$inside" -eq 0 ] || failures=$((failures + inside))

if [ "$failures" -gt 0 ]; then echo "# $failures failed"; exit 1; fi
echo "# all passed"
