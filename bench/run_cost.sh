#!/usr/bin/env bash
# Where the time goes: server CPU time and context switches per request for
# bare RESTinio and the actorserve no-op path, from /proc during one wrk run
# each (same settings). Context switches count the thread hand-offs.
#   bench/run_cost.sh [build-dir, default build]   env: DURATION=5s CONNS=64
set -euo pipefail
build=${1:-build}; dur=${DURATION:-5s}; conns=${CONNS:-64}
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/$1/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
measure() {  # name, command...
  local name=$1; shift
  "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8120/ && break; sleep 0.1; done
  timeout 30 wrk -t1 -c"$conns" -d2s http://127.0.0.1:8120/ >/dev/null
  local c0 s0 out c1 s1 n
  c0=$(cpu_ticks $pid); s0=$(switches $pid)
  out=$(timeout 60 wrk -t1 -c"$conns" -d"$dur" http://127.0.0.1:8120/)
  c1=$(cpu_ticks $pid); s1=$(switches $pid)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  printf "| %s | %s | %.2f | %.2f |\n" "$name" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "($c1 - $c0) * 1000000 / $tck / $n" | bc -l)" "$(echo "($s1 - $s0) / $n" | bc -l)"
  kill -TERM $pid; wait $pid 2>/dev/null || true
}
printf "| path | req/s | server CPU us/request | context switches/request |\n|---|---|---|---|\n"
measure "bare RESTinio" "$build/bench/restinio_hello" 8120 1
measure "actorserve isolated, 1 system thread" "$build/bench/noop_server" --port 8120 --threads 1
measure "actorserve inline, 1 system thread" "$build/bench/noop_server" --port 8120 --threads 1 --mode inline
measure "actorserve isolated, 2 system threads" "$build/bench/noop_server" --port 8120 --threads 2
