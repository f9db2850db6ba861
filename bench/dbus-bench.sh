#!/bin/bash
# bench/dbus-bench.sh BUILD_DIR [CALLS]: ScheduleTask against Peer.Ping round
# trips, on a private session bus with its own engine-manager; then the same
# against dbus-floor, which sends the same messages with nothing behind them
set -eu

build=${1:?usage: bench/dbus-bench.sh BUILD_DIR [CALLS]}
calls=${2:-2000}
build=$(cd "$build" && pwd)

if [ -z "${EM_BENCH_PRIVATE_BUS:-}" ]; then
  EM_BENCH_PRIVATE_BUS=1 exec dbus-run-session -- bash "$0" "$build" "$calls"
fi

data=$(mktemp -d)
server=
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
trap 'stop_server; rm -rf "$data"' EXIT

echo "engine-manager:"
"$build/src/daemon/engine-manager" --bus session --no-http --data-dir "$data" 2>"$data/daemon.log" &
server=$!
gdbus wait --session --timeout 20 io.github.enginemanager.EngineManager
"$build/bench/dbus-bench" --calls "$calls"
stop_server

echo "dbus-floor (the same messages per call, no engine: the best ratio this bus allows):"
"$build/bench/dbus-floor" &
server=$!
gdbus wait --session --timeout 20 io.github.enginemanager.EngineManager
"$build/bench/dbus-bench" --calls "$calls"
