#!/usr/bin/env bash
# Closed-loop HTTP throughput, side by side in one run: bare RESTinio (the
# ceiling) and the actorserve no-op deployment (isolated and inline), each
# measured with the same wrk settings, alternating, ROUNDS times.
#   bench/run_http.sh [build-dir, default build]     env: ROUNDS=3 DURATION=5s CONNS=64
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-3}; dur=${DURATION:-5s}; conns=${CONNS:-64}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
start() { "$@" >/dev/null 2>&1 & pids+=($!); }
wait_port() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
start "$build/bench/restinio_hello" 8100 1
start "$build/bench/noop_server" --port 8101 --mode isolated
start "$build/bench/noop_server" --port 8102 --mode inline
for p in 8100 8101 8102; do wait_port $p; done
declare -A name=([8100]="bare RESTinio (ceiling)" [8101]="actorserve no-op, isolated" [8102]="actorserve no-op, inline")
declare -A sum
for p in 8100 8101 8102; do timeout 20 wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$p/" >/dev/null; done  # warm-up
for r in $(seq 1 "$rounds"); do
  for p in 8100 8101 8102; do
    rps=$(timeout 60 wrk -t1 -c"$conns" -d"$dur" "http://127.0.0.1:$p/" | awk '/Requests\/sec/ {print $2}')
    echo "round $r port $p ${name[$p]}: $rps req/s"
    sum[$p]=$(echo "${sum[$p]:-0} + $rps" | bc -l)
  done
done
base=$(echo "${sum[8100]} / $rounds" | bc -l)
printf "\n| path | req/s (mean of %s) | ratio to bare RESTinio |\n|---|---|---|\n" "$rounds"
for p in 8100 8101 8102; do
  m=$(echo "${sum[$p]} / $rounds" | bc -l)
  printf "| %s | %.0f | %.0f%% |\n" "${name[$p]}" "$m" "$(echo "100 * $m / $base" | bc -l)"
done
