#include "dashboard_page.hpp"

#include <string>

namespace actorserve::detail {

namespace {

// The markup and style; the script is in dashboard_script_*.cpp. Server strings
// reach the DOM only through textContent and setAttribute, never innerHTML. DOM
// hooks for tests: `#conn[data-mode]`,
// `#total-qps`, `section.app[data-app]`, `tr.dep[data-deployment]` with a
// `td.qps` child, `tr[data-node]`, `#http-codes [data-code]`.
constexpr std::string_view markup = R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>actorserve dashboard</title>
<style>
:root { --bg: #f4f6f9; --card: #fff; --line: #e2e6ec; --text: #1f2933; --muted: #6b7785;
  --ok: #16803c; --warn: #b45309; --bad: #c81e1e; --qps: #2563eb; --p50: #0d9488; --p99: #ea580c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 13px/1.4 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { display: flex; align-items: center; gap: 18px; padding: 10px 20px;
  background: var(--card); border-bottom: 1px solid var(--line); }
header.top h1 { font-size: 16px; margin: 0; font-weight: 600; }
#summary { color: var(--muted); flex: 1; }
#updated { color: var(--muted); font-variant-numeric: tabular-nums; }
#conn { padding: 2px 10px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid; }
#conn::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%;
  margin-right: 6px; vertical-align: 1px; background: currentColor; }
#conn[data-mode="sse"] { color: var(--ok); background: #ecfdf3; }
#conn[data-mode="polling"] { color: var(--warn); background: #fffbeb; }
#conn[data-mode="disconnected"], #conn[data-mode="connecting"] { color: var(--bad); background: #fef2f2; }
main { padding: 14px 20px; }
#page-error { display: none; margin-bottom: 10px; padding: 8px 12px; border: 1px solid #f5c2c2;
  background: #fef2f2; color: var(--bad); border-radius: 6px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.row2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; margin-bottom: 12px; }
.kpis { display: flex; gap: 22px; margin-bottom: 6px; }
.kpi .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.kpi .l { color: var(--muted); font-size: 11px; }
#http-codes { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 8px; min-height: 20px; }
.code { padding: 1px 8px; border-radius: 4px; background: #eef1f5; font-variant-numeric: tabular-nums; }
.code[data-class="2"] { background: #ecfdf3; color: var(--ok); }
.code[data-class="4"] { background: #fffbeb; color: var(--warn); }
.code[data-class="5"] { background: #fef2f2; color: var(--bad); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.chart-label { color: var(--muted); font-size: 11px; display: flex; justify-content: space-between; }
svg.spark { display: block; width: 100%; background: #fafbfc; border: 1px solid #eef0f3; border-radius: 3px; }
svg.spark polyline { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
svg.spark .s0 { stroke: var(--qps); } svg.spark.lat .s0 { stroke: var(--p50); } svg.spark.lat .s1 { stroke: var(--p99); }
.legend i { display: inline-block; width: 10px; height: 2px; vertical-align: 3px; margin: 0 3px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 11px; padding: 3px 5px; border-bottom: 1px solid var(--line); }
td { padding: 3px 5px; border-bottom: 1px solid #f0f2f5; vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.qps { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
#apps { display: grid; grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); gap: 12px; }
section.app > header { display: flex; align-items: baseline; gap: 10px; margin-bottom: 6px; }
.app-name { font-size: 14px; font-weight: 600; margin: 0; }
.route { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); flex: 1; }
.msg { color: var(--bad); font-size: 12px; margin-bottom: 4px; }
.msg:empty { display: none; }
.badge { font-size: 11px; font-weight: 600; padding: 0 7px; border-radius: 9px; background: #eef1f5; color: var(--muted); white-space: nowrap; }
.badge[data-tone="ok"] { background: #ecfdf3; color: var(--ok); }
.badge[data-tone="warn"] { background: #fffbeb; color: var(--warn); }
.badge[data-tone="bad"] { background: #fef2f2; color: var(--bad); }
.dep-name { font-weight: 600; }
td.dep-cell { white-space: nowrap; }
.tag { font-size: 10px; color: var(--muted); border: 1px solid var(--line); border-radius: 3px; padding: 0 4px; margin-left: 5px; }
tr.reps td { padding-top: 0; padding-bottom: 6px; }
.replica { display: inline-block; margin: 0 6px 2px 0; padding: 0 6px; border: 1px solid var(--line);
  border-radius: 4px; font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; }
.replica .st { font-weight: 600; }
.replica[data-tone="ok"] .st { color: var(--ok); } .replica[data-tone="warn"] .st { color: var(--warn); }
.replica[data-tone="bad"] .st { color: var(--bad); }
td.trend { width: 136px; white-space: nowrap; } td.trend svg { display: inline-block; width: 62px; margin-right: 4px; }
.empty { color: var(--muted); padding: 20px; text-align: center; }
</style>
</head>
<body>
<header class="top">
  <h1>actorserve dashboard</h1>
  <span id="summary">waiting for data</span>
  <span id="updated"></span>
  <span id="conn" data-mode="connecting">connecting</span>
</header>
<main>
  <div id="page-error"></div>
  <div class="row2">
    <div class="card" id="http-panel">
      <h2>HTTP ingress</h2>
      <div class="kpis">
        <div class="kpi"><div class="v" id="total-qps">-</div><div class="l">requests / s</div></div>
        <div class="kpi"><div class="v" id="http-p50">-</div><div class="l">p50 latency (ms)</div></div>
        <div class="kpi"><div class="v" id="http-p99">-</div><div class="l">p99 latency (ms)</div></div>
        <div class="kpi"><div class="v" id="http-total">-</div><div class="l">requests total</div></div>
      </div>
      <div id="http-codes"></div>
      <div class="charts">
        <div><div class="chart-label"><span>QPS</span><span id="http-qps-max"></span></div><div id="http-qps-chart"></div></div>
        <div><div class="chart-label"><span class="legend">latency<i style="background:var(--p50)"></i>p50<i style="background:var(--p99)"></i>p99</span><span id="http-lat-max"></span></div><div id="http-lat-chart"></div></div>
      </div>
    </div>
    <div class="card">
      <h2>Nodes</h2>
      <table id="nodes">
        <thead><tr><th>ID</th><th>Role</th><th>Address</th><th class="num">PID</th><th>State</th><th>Resources</th><th class="num">Replicas</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </div>
  <div id="apps"><div class="card empty">No applications yet.</div></div>
</main>
<script>
)page";

constexpr std::string_view closing = R"page(</script>
</body>
</html>
)page";

} // namespace

std::string_view dashboard_html() noexcept {
  static const std::string page = [] {
    std::string x{markup};
    x += dashboard_script_data();
    x += dashboard_script_view();
    x += closing;
    return x;
  }();
  return page;
}

} // namespace actorserve::detail
