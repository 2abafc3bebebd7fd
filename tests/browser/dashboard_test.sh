#!/usr/bin/env bash
# Headless-browser test of the live dashboard (the admin server's `GET /`).
#
#   tests/browser/dashboard_test.sh DEMO_BINARY [SCREENSHOT_OUT]
#
# Starts the demo server on free ports, waits until the `classify` app is
# RUNNING, keeps POSTing to /classify from a few loops, opens the dashboard
# in headless Chromium and checks its DOM until, within the deadline, it
# shows the apps classify, pipeline and ensemble, a non-zero QPS for the
# Tokenizer or Classifier deployment of classify, and a non-zero HTTP QPS.
# With SCREENSHOT_OUT it then lets the charts fill and saves a 1280x1000 PNG.
#
# Chromium is driven over the DevTools protocol on a pipe
# (--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4), not with
# --dump-dom/--screenshot: those act at the load event, before the page has
# two snapshots to take a rate from, and --virtual-time-budget never expires
# while the page's event stream is open (virtual time pauses while a fetch is
# pending). Over the pipe the test keeps one page open and reads its DOM
# once a second.
#
# Environment: CHROMIUM (default: chromium), DASHBOARD_TEST_TIMEOUT (seconds
# for the DOM checks, default 60), SCREENSHOT_WAIT (seconds of traffic before
# the screenshot, default 30). Needs bash >= 4.1, curl and base64.
set -euo pipefail

usage="usage: $0 DEMO_BINARY [SCREENSHOT_OUT]"
demo=${1:?$usage}
shot=${2:-}
chromium=${CHROMIUM:-chromium}
check_timeout=${DASHBOARD_TEST_TIMEOUT:-60}
shot_wait=${SCREENSHOT_WAIT:-30}

say() { echo "dashboard_test: $*"; }
fail() { echo "dashboard_test: FAIL: $*" >&2; exit 1; }

[ -x "$demo" ] || fail "demo binary '$demo' is not executable"
command -v "$chromium" >/dev/null || fail "no Chromium ('$chromium'); set CHROMIUM"
command -v curl >/dev/null || fail "curl is not installed"
if [ -n "$shot" ]; then
  mkdir -p "$(dirname "$shot")"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dashboard_test.XXXXXX")
demo_pid='' chrome_pid='' cdp_w='' cdp_r=''
load_pids=()

# Waits up to $2 tenths of a second for process $1 to end; true if it did.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$1" 2>/dev/null
}

# Stops a process: signal $2, up to $3 tenths of a second, then SIGKILL.
stop() {
  [ -n "$1" ] || return 0
  kill "-$2" "$1" 2>/dev/null || true
  wait_gone "$1" "$3" || { kill -KILL "$1" 2>/dev/null || true; }
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  touch "$tmp/stop" # the load loops end after their current request
  local pid
  for pid in "${load_pids[@]}"; do stop "$pid" CONT 100; done
  [ -z "$cdp_w" ] || exec {cdp_w}>&-
  [ -z "$cdp_r" ] || exec {cdp_r}<&-
  stop "$chrome_pid" TERM 50
  stop "$demo_pid" INT 100 # SIGINT drains; SIGTERM is for the server's own use
  if [ "$rc" -ne 0 ]; then
    echo "--- demo log (tail) ---" >&2
    tail -n 20 "$tmp/demo.log" >&2 2>/dev/null || true
    echo "--- files kept in $tmp (dom.html: the last DOM read) ---" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A command that fails where no check expected it still says where.
trap 'echo "dashboard_test: FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR

# -- the server -------------------------------------------------------------
# The log exists before the server starts: the loop below reads it at once
# (a missing file would end this script under `set -e`, saying nothing).
: >"$tmp/demo.log"
"$demo" --port 0 --admin-port 0 >"$tmp/demo.log" 2>&1 &
demo_pid=$!
http='' admin=''
for ((i = 0; i < 300; i++)); do # 30 s
  http=$(sed -n 's|^actorserve demo: serving on http://\([^/ ]*\).*|\1|p' "$tmp/demo.log" || true)
  admin=$(sed -n 's|^actorserve demo: admin API on http://\([^/ ]*\)/.*|\1|p' "$tmp/demo.log" || true)
  [ -n "$http" ] && [ -n "$admin" ] && break
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo server exited before announcing its ports"
  sleep 0.1
done
[ -n "$http" ] && [ -n "$admin" ] || fail "the demo server did not announce its HTTP and admin ports within 30 s"
say "demo serving on $http, admin API on $admin"

# nlohmann::json writes object keys sorted: an app's "status" follows its
# "route_prefix".
running='"route_prefix":"/classify","status":"RUNNING"'
status=''
for ((i = 0; i < 300; i++)); do # 30 s
  status=$(curl -sf --max-time 2 "http://$admin/api/serve/applications/" || true)
  [[ $status == *"$running"* ]] && break
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo server exited while starting"
  sleep 0.1
done
[[ $status == *"$running"* ]] ||
  fail "the classify app is not RUNNING after 30 s; last status: ${status:0:500}"

page_code=$(curl -s -o "$tmp/page.html" -w '%{http_code}' --max-time 5 "http://$admin/" || true)
grep -q '<title>actorserve dashboard</title>' "$tmp/page.html" 2>/dev/null ||
  fail "GET http://$admin/ does not serve the dashboard page (HTTP ${page_code:-no answer})"

# -- steady traffic, until the test ends -------------------------------------
for ((i = 0; i < 4; i++)); do
  (
    while [ ! -e "$tmp/stop" ]; do
      curl -s -o /dev/null --max-time 5 -X POST "http://$http/classify" \
        -d '{"text":"I love this"}' || sleep 0.1
    done
  ) &
  load_pids+=($!)
done
(
  while [ ! -e "$tmp/stop" ]; do # a little traffic elsewhere, for the picture
    curl -s -o /dev/null --max-time 5 -X POST "http://$http/pipeline" -d '{"text":"  Hello World  "}' || true
    curl -s -o /dev/null --max-time 5 -X POST "http://$http/ensemble" -d '{"x":2}' || true
    sleep 0.05
  done
) &
load_pids+=($!)

# -- Chromium over the DevTools pipe -------------------------------------------
mkfifo "$tmp/cdp.in" "$tmp/cdp.out"
"$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --hide-scrollbars --no-first-run --user-data-dir="$tmp/profile" \
  --window-size=1280,1000 --remote-debugging-pipe about:blank \
  3<"$tmp/cdp.in" 4>"$tmp/cdp.out" >"$tmp/chromium.log" 2>&1 &
chrome_pid=$!
exec {cdp_w}>"$tmp/cdp.in" {cdp_r}<"$tmp/cdp.out"

# cdp METHOD [PARAMS_JSON [SESSION]]: sends a command and sets `reply` to its
# answer (events in between are skipped); fails on an error or after 30 s.
cdp_id=0
reply=''
cdp() {
  local method=$1 params=${2:-'{}'} session=${3:-} msg
  cdp_id=$((cdp_id + 1))
  msg="{\"id\":$cdp_id,\"method\":\"$method\",\"params\":$params"
  [ -z "$session" ] || msg+=",\"sessionId\":\"$session\""
  printf '%s}\0' "$msg" >&"$cdp_w" || fail "Chromium is gone (see $tmp/chromium.log)"
  while :; do
    IFS= read -r -d '' -t 30 -u "$cdp_r" reply ||
      fail "no answer from Chromium to $method within 30 s (see $tmp/chromium.log)"
    [[ $reply == "{\"id\":$cdp_id,"* ]] && break
  done
  [[ $reply != *'"error":{'* ]] || fail "Chromium answered $method with ${reply:0:300}"
}
# json_field NAME: the string field NAME of `reply`.
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$reply"; }

url="http://$admin/"
cdp Target.createTarget "{\"url\":\"$url\"}"
target=$(json_field targetId)
cdp Target.attachToTarget "{\"targetId\":\"$target\",\"flatten\":true}"
session=$(json_field sessionId)
[ -n "$session" ] || fail "could not attach to the page: ${reply:0:300}"
cdp Emulation.setDeviceMetricsOverride \
  '{"width":1280,"height":1000,"deviceScaleFactor":1,"mobile":false}' "$session"

# Reads the serialized DOM (what --dump-dom prints) into $tmp/dom.html.
dom=''
read_dom() {
  cdp Runtime.evaluate '{"returnByValue":true,"expression":"(document.doctype ? new XMLSerializer().serializeToString(document.doctype) + \"\\n\" : \"\") + document.documentElement.outerHTML"}' "$session"
  local v=${reply#*'"value":"'}
  v=${v%'"}}'*}
  v=${v//\\\"/\"}
  printf '%b' "$v" >"$tmp/dom.html" # \\, \n, \uXXXX (Chromium writes < as \u003C)
  dom=$(<"$tmp/dom.html")
}
# text_after TEXT MARK: the text of the element whose start tag has MARK.
text_after() {
  local rest=${1#*"$2"}
  [ "$rest" != "$1" ] || return 0
  rest=${rest#*>}
  printf '%s' "${rest%%<*}"
}
nonzero() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && ! $1 =~ ^0+(\.0+)?$ ]]; }

# Sets `problems` to what the DOM lacks; empty when it passes.
problems=''
summary=''
check_dom() {
  problems=''
  local app dep card row q qps_seen=''
  for app in classify pipeline ensemble; do
    [[ $dom == *"data-app=\"$app\""* ]] || problems+="; no application block data-app=\"$app\""
  done
  card=${dom#*'data-app="classify"'}
  card=${card%%'data-app="'*} # up to the next application block
  local ok=''
  for dep in Tokenizer Classifier; do
    row=${card#*"data-deployment=\"$dep\""}
    if [ "$row" = "$card" ]; then
      problems+="; no row data-deployment=\"$dep\" in classify"
      continue
    fi
    row=${row%%'data-deployment="'*}
    q=$(text_after "$row" 'class="qps"')
    qps_seen+=" $dep=${q:-?}"
    nonzero "$q" && ok=1
  done
  [ -n "$ok" ] || problems+="; no non-zero QPS for Tokenizer or Classifier of classify (.qps:$qps_seen)"
  local total mode err
  total=$(text_after "$dom" 'id="total-qps"')
  nonzero "$total" || problems+="; #total-qps is '${total}', not a non-zero number"
  err=$(text_after "$dom" 'id="page-error"')
  [ -z "$err" ] || problems+="; the page reports: $err"
  mode=$(sed -n 's/.*id="conn" data-mode="\([a-z]*\)".*/\1/p' <<<"$dom")
  summary="classify QPS:$qps_seen, HTTP QPS $total, connection ${mode:-?}"
  problems=${problems#; }
}

deadline=$((SECONDS + check_timeout))
while :; do
  sleep 1
  read_dom
  check_dom
  [ -n "$problems" ] || break
  ((SECONDS < deadline)) || fail "after ${check_timeout} s the dashboard DOM lacks: $problems"
done
say "dashboard DOM ok: $summary"

if [ -n "$shot" ]; then
  sleep "$shot_wait" # chart history to draw; the checks above already passed
  cdp Page.captureScreenshot '{"format":"png"}' "$session"
  data=$(json_field data)
  base64 -d <<<"$data" >"$shot" || fail "could not decode the screenshot"
  [ "$(head -c 4 "$shot" | tail -c 3)" = PNG ] || fail "the screenshot in $shot is not a PNG"
  say "screenshot written to $shot"
fi
cdp Browser.close
say "PASS ($summary)"
