#!/bin/sh
# POST /tasks throughput and p99 latency of the service against a minimal libsoup
# handler, at 16 connections with wrk, then WebSocket fan-out.
#
#   bench/rest-bench.sh [BUILD_DIR] [SECONDS_PER_ROUND]
#
# ROUNDS=3 sets how many rounds alternate between the servers.
#
# FANOUT=0 skips the WebSocket part.
#
# The service runs tasks of the action "wait" with duration 0, which touch no
# device, so what is measured is the HTTP path and the engine. A second instance
# runs with --in-memory (no task database), which tells how much of the
# difference to the baseline is the store's.
#
# Throughput counts 2xx answers only: without the store's acknowledgement to pace
# it, the service can accept tasks faster than it runs them (--max-concurrent at
# a time, and even a task that ends at once takes a turn of the loop), and once
# --max-pending are waiting it answers 429, which is cheap and creates no task.
# The non-2xx counts are printed too.
#
# Under each server's figures, its main loop's CPU time per request and how
# busy it was: the loop that every request goes through is what limits the
# rate, so this says how far each server's own work per request is from the
# other's.
set -eu

build=${1:-build}
duration=${2:-10}
rounds=${ROUNDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
daemon=$build/src/daemon/engine-manager
baseline=$build/bench/soup-baseline
fanout=$build/bench/ws-fanout
connections=16
threads=2

for tool in wrk "$daemon" "$baseline" "$fanout"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
pids=
cleanup () {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

. "$here/bench-lib.sh"
post_lua=$here/post-task.lua

wait_port () {
  i=0
  until curl -s -o /dev/null "http://127.0.0.1:$1/${2:-health}" -X "${3:-GET}"; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "nothing listens on $1" >&2; exit 1; }
    sleep 0.05
  done
}

# CPU time of a process's main thread (its GMainLoop), in clock ticks
main_ticks () {
  awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat"
}

# run_wrk URL PID: a short warm-up, then the measured run; "ticks N" in
# wrk.out is what the server's main thread took of the CPU meanwhile, over
# "elapsed_s" seconds
run_wrk () {
  wrk -t$threads -c$connections -d2s -s "$post_lua" "$1" >/dev/null
  before=$(main_ticks "$2")
  started=$(date +%s%N)
  wrk -t$threads -c$connections -d"${duration}s" --latency -s "$post_lua" "$1" > "$work/wrk.out"
  echo "ticks $(( $(main_ticks "$2") - before ))" >> "$work/wrk.out"
  echo "elapsed_s $(( $(date +%s%N) - started ))e-9" >> "$work/wrk.out"
  cat "$work/wrk.out" >&2
}

service_port=$(free_port)
"$daemon" --bus none --http-address 127.0.0.1 --http-port "$service_port" \
  --data-dir "$work/data" > "$work/daemon.log" 2>&1 &
service_pid=$!
memory_port=$(free_port)
"$daemon" --bus none --http-address 127.0.0.1 --http-port "$memory_port" \
  --data-dir "$work/memory-data" --in-memory > "$work/memory.log" 2>&1 &
memory_pid=$!
baseline_port=$(free_port)
"$baseline" "$baseline_port" > "$work/baseline.log" 2>&1 &
baseline_pid=$!
pids="$service_pid $memory_pid $baseline_pid"
wait_port "$service_port"
wait_port "$memory_port"
wait_port "$baseline_port" tasks POST

# rounds alternate between the servers, so a busy moment on the machine
# weighs on all; the medians are reported
: > "$work/base.txt"
: > "$work/svc.txt"
: > "$work/mem.txt"
# each line: req/s, p99 ms, non-2xx answers, main-loop µs of CPU per request
# and the share of the time it was busy
tally () {
  awk -v hz="$(getconf CLK_TCK)" '
    /^rps/ {r = $2} /^p99_ms/ {p = $2} /^non2xx/ {n = $2} /^ticks/ {t = $2} /^elapsed_s/ {d = $2 + 0}
    END {print r, p, n + 0, (r > 0 ? t / hz * 1e6 / (r * d) : 0), 100 * t / hz / d}' "$work/wrk.out"
}
for round in $(seq 1 "$rounds"); do
  echo "== round $round: libsoup baseline, POST /tasks, $connections connections, ${duration}s" >&2
  run_wrk "http://127.0.0.1:$baseline_port/tasks" "$baseline_pid"
  tally >> "$work/base.txt"
  echo "== round $round: engine-manager, POST /tasks, $connections connections, ${duration}s" >&2
  run_wrk "http://127.0.0.1:$service_port/tasks" "$service_pid"
  tally >> "$work/svc.txt"
  echo "== round $round: engine-manager --in-memory, POST /tasks, $connections connections, ${duration}s" >&2
  run_wrk "http://127.0.0.1:$memory_port/tasks" "$memory_pid"
  tally >> "$work/mem.txt"
done
median () {
  sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
base_rps=$(cut -d' ' -f1 "$work/base.txt" | median)
base_p99=$(cut -d' ' -f2 "$work/base.txt" | median)
svc_rps=$(cut -d' ' -f1 "$work/svc.txt" | median)
svc_p99=$(cut -d' ' -f2 "$work/svc.txt" | median)
svc_non2xx=$(awk '{ n += $3 } END { print n }' "$work/svc.txt")
mem_rps=$(cut -d' ' -f1 "$work/mem.txt" | median)
mem_p99=$(cut -d' ' -f2 "$work/mem.txt" | median)
mem_non2xx=$(awk '{ n += $3 } END { print n }' "$work/mem.txt")
# the main loop's CPU per request (median) and how busy it was (median)
loop () {
  printf '%.1f µs of CPU per request, busy %.0f%%' "$(cut -d' ' -f4 "$1" | median)" "$(cut -d' ' -f5 "$1" | median)"
}

if [ "${FANOUT:-1}" != 0 ]; then
  # a fresh daemon for fan-out, so the tasks above do not weigh on it
  kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
  pids=
  fanout_port=$(free_port)
  "$daemon" --bus none --http-address 127.0.0.1 --http-port "$fanout_port" \
    --data-dir "$work/fanout-data" > "$work/fanout.log" 2>&1 &
  pids="$!"
  wait_port "$fanout_port"
  echo "== WebSocket fan-out: 100 clients, 10000 events" >&2
  "$fanout" "http://127.0.0.1:$fanout_port" 100 10000 > "$work/fanout.out" || true
fi

echo
echo "POST /tasks at $connections connections, median of $rounds rounds of ${duration}s ($(nproc) cores)"
printf '  %-22s %10s req/s   p99 %8s ms\n' "libsoup baseline" "$base_rps" "$base_p99"
printf '  %-22s %s\n' "  its main loop" "$(loop "$work/base.txt")"
printf '  %-22s %10s req/s   p99 %8s ms   (non-2xx: %s)\n' "engine-manager" "$svc_rps" "$svc_p99" "$svc_non2xx"
printf '  %-22s %s\n' "  its main loop" "$(loop "$work/svc.txt")"
awk -v s="$svc_rps" -v b="$base_rps" 'BEGIN { printf "  throughput ratio       %.2f (target >= 0.70)\n", s / b }'
echo "Without the task database (--in-memory, for comparison only)"
printf '  %-22s %10s req/s   p99 %8s ms   (non-2xx: %s)\n' "engine-manager" "$mem_rps" "$mem_p99" "$mem_non2xx"
printf '  %-22s %s\n' "  its main loop" "$(loop "$work/mem.txt")"
awk -v s="$mem_rps" -v b="$base_rps" -v t="$svc_rps" 'BEGIN { printf "  throughput ratio       %.2f (the store costs %.0f%% of it)\n", s / b, 100 * (1 - t / s) }'
if [ "${FANOUT:-1}" != 0 ]; then
  echo "WebSocket fan-out"
  sed 's/^/  /' "$work/fanout.out"
fi
