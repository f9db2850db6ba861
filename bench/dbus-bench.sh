#!/bin/bash
# bench/dbus-bench.sh BUILD_DIR [CALLS]: ScheduleTask against Peer.Ping round
# trips, on a private session bus with its own engine-manager
set -eu

build=${1:?usage: bench/dbus-bench.sh BUILD_DIR [CALLS]}
calls=${2:-2000}
build=$(cd "$build" && pwd)

if [ -z "${EM_BENCH_PRIVATE_BUS:-}" ]; then
  EM_BENCH_PRIVATE_BUS=1 exec dbus-run-session -- bash "$0" "$build" "$calls"
fi

data=$(mktemp -d)
"$build/src/daemon/engine-manager" --bus session --no-http --data-dir "$data" 2>"$data/daemon.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$data"' EXIT

gdbus wait --session --timeout 20 io.github.enginemanager.EngineManager
"$build/bench/dbus-bench" --calls "$calls"
