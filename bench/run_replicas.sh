#!/usr/bin/env bash
# Memory per idle replica and start-up time: starts the no-op server with
# 1, 100 and 1000 replicas (isolated mode: each replica has its own user
# thread), waits for its "serving" line, reads VmRSS from /proc, stops it.
#   bench/run_replicas.sh [build-dir, default build]
set -euo pipefail
build=${1:-build}
printf "| replicas | start-up to ready (ms) | RSS (KiB) | RSS per replica above 1 (KiB) |\n|---|---|---|---|\n"
base=""
for n in 1 100 1000; do
  log=$(mktemp)
  start=$(date +%s%N)
  "$build/bench/noop_server" --port 0 --replicas "$n" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q "serving" "$log" && break; sleep 0.05; done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1   # let start-up allocations settle before reading RSS
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$log"
  [ -n "$base" ] || base=$rss
  per="-"
  [ "$n" -eq 1 ] || per=$(( (rss - base) / (n - 1) ))
  printf "| %s | %s | %s | %s |\n" "$n" "$ready" "$rss" "$per"
done
