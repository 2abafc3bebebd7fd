#!/usr/bin/env bash
# Bounded Ray Serve benchmark: for each app x mode, start serve_run.py, wait for
# READY, record start time + idle RSS, run wrk at several concurrencies, stop,
# and verify no Ray processes remain.
#
# usage: bench_ray.sh [OUT_DIR]
# env:   RAY_VENV (default bench/venv)  PORT (default 8800)
#        DURATION (default 5s)  WARMUP (default 2s)  CONNS (default "1 8 32")
#        APPS (default "noop echo_chain")
#        MODES (default "default throughput"; also "haproxy" =
#               THROUGHPUT_OPTIMIZED + RAY_SERVE_ENABLE_HA_PROXY=1)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/results}"; mkdir -p "$out"
venv="${RAY_VENV:-$here/../venv}"
port="${PORT:-8800}"; dur="${DURATION:-5s}"; warm="${WARMUP:-2s}"
conns="${CONNS:-1 8 32}"; apps="${APPS:-noop echo_chain}"; modes="${MODES:-default throughput}"
results="$out/results.tsv"
printf "app\tmode\ttarget\tconns\trps\tavg_us\tp50_us\tp90_us\tp99_us\tmax_us\trequests\tsock_errors\tnon2xx\n" > "$results"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)"; exit 1; }

ray_procs() { ps -eo args= | grep -E '(^|/| )(ray::|raylet|gcs_server)|site-packages/ray/' | grep -v grep | wc -l; }

tree_pids() {  # pid $1 and all its descendants, one per line
  ps -eo pid=,ppid= | awk -v root="$1" '
    { kids[$2]=kids[$2] " " $1 }
    END { q[0]=root; h=0; tl=1
          while (h<tl) { p=q[h++]; print p; m=split(kids[p],c," "); for(i=1;i<=m;i++) q[tl++]=c[i] } }'
}
tree_mem() {  # "procs=N rss_kib=R pss_kib=P" for the tree under $1 (PSS avoids double-counting shared pages)
  local n=0 r=0 p=0 pid v
  for pid in $(tree_pids "$1"); do
    v=$(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r+0, p+0}' /proc/$pid/smaps_rollup 2>/dev/null) || continue
    n=$((n+1)); r=$((r + ${v% *})); p=$((p + ${v#* }))
  done
  echo "procs=$n rss_kib=$r pss_kib=$p"
}
tree_ticks() {  # total utime+stime clock ticks of the tree under $1
  local t=0 pid
  for pid in $(tree_pids "$1"); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || echo 0)))
  done
  echo $t
}

run_wrk() {  # app mode target url
  local app=$1 mode=$2 target=$3 url=$4 script c line
  script="$here/report.lua"
  # The echo chain POSTs a 10 KB body (report.lua reads POST_BYTES).
  if [ "$app" = echo_chain ]; then export POST_BYTES=10240; else unset POST_BYTES; fi
  timeout 30 wrk -t1 -c8 -d"$warm" -s "$script" "$url" > /dev/null 2>&1
  for c in $conns; do
    line=$(timeout 60 wrk -t1 -c"$c" -d"$dur" --timeout 5s -s "$script" "$url" 2>&1 | tee -a "$out/wrk_${app}_${mode}_${target}.txt" | grep '^RESULT')
    [ -n "$line" ] || line="RESULT rps=FAIL"
    echo "  $target c=$c $line"
    printf "%s\t%s\t%s\t%s\t%s\n" "$app" "$mode" "$target" "$c" \
      "$(echo "$line" | sed 's/^RESULT //; s/[a-z_0-9]*=//g; s/ /\t/g')" >> "$results"
  done
}

echo "ray-like processes before: $(ray_procs)"
for mode in $modes; do
  for app in $apps; do
    log="$out/serve_${app}_${mode}.log"
    case "$mode" in
      default)    envs=() ;;
      throughput) envs=(RAY_SERVE_THROUGHPUT_OPTIMIZED=1) ;;
      haproxy)    envs=(RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_SERVE_ENABLE_HA_PROXY=1) ;;
      *) echo "unknown mode $mode"; continue ;;
    esac
    echo "== $app / $mode (port $port)"
    t0=$(date +%s.%N)
    env "${envs[@]}" timeout -s TERM 900 "$venv/bin/python" -u "$here/serve_run.py" "$app" "$port" > "$log" 2>&1 &
    lpid=$!  # timeout's pid; the launcher is its child
    ok=0
    for _ in $(seq 1 1500); do
      grep -q '^READY' "$log" && { ok=1; break; }
      kill -0 $lpid 2>/dev/null || break
      sleep 0.1
    done
    t1=$(date +%s.%N)
    if [ $ok = 1 ]; then
      echo "  ready_wall_s=$(echo "$t1 - $t0" | bc) $(grep '^TIMING' "$log")" | tee -a "$out/startup.txt"
      if [ "$app" = noop ]; then
        sleep 5
        k0=$(tree_ticks $lpid); sleep 10; k1=$(tree_ticks $lpid)
        echo "  idle ${app}/${mode}: $(tree_mem $lpid) idle_cpu_pct_of_one_core=$(( (k1 - k0) * 100 / ($(getconf CLK_TCK) * 10) ))" | tee -a "$out/startup.txt"
        ps -o pid=,rss=,args= -p "$(tree_pids $lpid | paste -sd,)" | cut -c1-120 > "$out/procs_${app}_${mode}.txt"
      fi
      url=$(grep '^URL' "$log" | cut -d' ' -f2)
      run_wrk "$app" "$mode" proxy "$url"
      # direct-ingress replica port (only exists with RAY_SERVE_THROUGHPUT_OPTIMIZED=1)
      dport=$(ss -ltnp 2>/dev/null | awk '/ServeRepli/ && $4 ~ /:30[0-9][0-9][0-9]$/ {sub(/.*:/,"",$4); print $4; exit}')
      # Record which process listens on the front port and the direct port
      ss -ltnp 2>/dev/null | grep -E ":($port|$dport) " | cut -c1-140 >> "$out/listeners_${app}_${mode}.txt"
      if [ -n "$dport" ]; then run_wrk "$app" "$mode" "direct-$dport" "http://127.0.0.1:$dport${url#http://127.0.0.1:$port}"; fi
    else
      echo "  NOT READY (see $log)"; tail -20 "$log"
    fi
    ts=$(date +%s.%N)
    pkill -TERM -P $lpid 2>/dev/null  # signal the launcher (child of timeout)
    for _ in $(seq 1 900); do kill -0 $lpid 2>/dev/null || break; sleep 0.1; done
    if kill -0 $lpid 2>/dev/null; then
      echo "  launcher did not exit in 90s; forcing"; pkill -KILL -P $lpid; kill -KILL $lpid
      "$venv/bin/ray" stop --force >/dev/null 2>&1
    fi
    wait $lpid 2>/dev/null
    sleep 1
    left=$(ray_procs)
    echo "  stop_wall_s=$(echo "$(date +%s.%N) - $ts" | bc) ray_procs_left=$left $(grep '^STOPPED' "$log")" | tee -a "$out/startup.txt"
    if [ "$left" != 0 ]; then "$venv/bin/ray" stop --force >/dev/null 2>&1; sleep 2; echo "  after ray stop --force: $(ray_procs)"; fi
    port=$((port + 1))
  done
done
echo "ray-like processes after: $(ray_procs)"
column -t -s $'\t' "$results"
