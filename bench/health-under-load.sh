#!/bin/sh
# GET /health p99 latency while 10 000 tasks are submitted and run and 200
# WebSocket clients follow the events, one of them no longer reading.
#
#   bench/health-under-load.sh [BUILD_DIR] [TASKS] [WS_CLIENTS] [SUBMITTERS]
#
# SUBMITTERS (default 1) connections submit tasks at once.
#
# The target is a p99 under 20 ms on a 2-core machine.
set -eu

build=${1:-build}
tasks=${2:-10000}
clients=${3:-200}
submitters=${4:-1}
daemon=$build/src/daemon/engine-manager
client=$build/bench/health-under-load

for tool in "$daemon" "$client"; do
  [ -x "$tool" ] || { echo "missing: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
pid=
cleanup () {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# the store on, as in production; pending tasks are not limited below TASKS
"$daemon" --bus none --http-address 127.0.0.1 --http-port 0 --data-dir "$work/data" \
  --max-pending "$tasks" 2>"$work/log" &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*Listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/log" >&2; exit 1; }

"$client" "$port" "$tasks" "$clients" "$submitters"
