#!/bin/sh
# Instructions per POST /tasks, counted by callgrind, for the libsoup baseline,
# the service, and the service without its store (--in-memory): a figure that,
# unlike requests per second, does not move with the machine's load, so two
# builds can be compared by one run each.
#
#   bench/rest-instructions.sh [BUILD_DIR] [SECONDS]
#
# Each server runs under callgrind in turn. After a warm-up its counters are
# zeroed, wrk sends requests for SECONDS at 16 connections, and the counts are
# dumped per thread. Callgrind slows a server some fifty times, so batching (how
# many requests one journal write acknowledges) differs from a native run.
set -eu

build=${1:-build}
duration=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
daemon=$build/src/daemon/engine-manager
baseline=$build/bench/soup-baseline

for tool in wrk valgrind callgrind_control "$daemon" "$baseline"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
pid=
cleanup () {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

. "$here/bench-lib.sh"
post_lua=$here/post-task.lua

# measure NAME PORT COMMAND...: prints "NAME REQUESTS MAIN OTHERS"
measure () {
  name=$1 port=$2
  shift 2
  valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$work/$name" "$@" > "$work/$name.log" 2>&1 &
  pid=$!
  i=0
  until curl -s -o /dev/null -X POST "http://127.0.0.1:$port/tasks"; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "$name did not start" >&2; exit 1; }
    sleep 0.1
  done
  wrk -t1 -c16 -d3s -s "$post_lua" "http://127.0.0.1:$port/tasks" > /dev/null
  callgrind_control -z "$pid" > /dev/null 2>&1
  requests=$(wrk -t1 -c16 -d"${duration}s" -s "$post_lua" "http://127.0.0.1:$port/tasks" |
             awk '/requests in/ { print $1 }')
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  # one file per thread of the dump: -01 is the main thread
  main=$(awk '/^summary:/ { print $2 }' "$work/$name".1-01)
  others=$(cat "$work/$name".1-* | awk '/^summary:/ { n += $2 } END { print n }')
  echo "$name $requests $main $((others - main))"
}

echo "== instructions per POST /tasks, ${duration}s of wrk under callgrind per server" >&2
port=$(free_port)
measure baseline "$port" "$baseline" "$port" > "$work/baseline.txt"
port=$(free_port)
measure service "$port" "$daemon" --bus none --http-port "$port" --data-dir "$work/data" > "$work/service.txt"
port=$(free_port)
measure memory "$port" "$daemon" --bus none --http-port "$port" --data-dir "$work/memory-data" \
  --in-memory > "$work/memory.txt"

echo
echo "Instructions per POST /tasks (callgrind; main thread / other threads)"
cat "$work/baseline.txt" "$work/service.txt" "$work/memory.txt" | awk '
  { label[NR] = $1; per_main[NR] = $3 / $2; per_other[NR] = $4 / $2; n[NR] = $2 }
  END {
    names["baseline"] = "libsoup baseline"; names["service"] = "engine-manager"
    names["memory"] = "engine-manager --in-memory"
    for (i = 1; i <= NR; i++)
      printf "  %-28s %9.0f / %9.0f   (%d requests)\n", names[label[i]], per_main[i], per_other[i], n[i]
    printf "  main-thread ratio, baseline to service: %.2f; to --in-memory: %.2f\n",
           per_main[1] / per_main[2], per_main[1] / per_main[3]
  }'
