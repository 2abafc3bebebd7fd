#include "dashboard_page.hpp"

namespace actorserve::detail {

namespace {

// The whole page. Server strings reach the DOM only through textContent and
// setAttribute, never innerHTML. DOM hooks for tests: `#conn[data-mode]`,
// `#total-qps`, `section.app[data-app]`, `tr.dep[data-deployment]` with a
// `td.qps` child, `tr[data-node]`, `#http-codes [data-code]`.
constexpr std::string_view page = R"page(<!DOCTYPE html>
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
'use strict';
const HISTORY = 60;            // samples kept for the charts
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmtRate(v) { return v == null || !isFinite(v) ? '-' : v.toFixed(1); }
function fmtMs(v) {
  if (v == null || !isFinite(v)) return '-';
  return v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0);
}
function tone(status) {
  if (/^(RUNNING|HEALTHY|READY|ALIVE)$/.test(status)) return 'ok';
  if (/(FAIL|UNHEALTHY|DEAD|ERROR)/.test(status)) return 'bad';
  if (/(DEPLOY|UPDAT|START|SCALING|DRAIN|STOPP|PENDING|RECOVER)/.test(status)) return 'warn';
  return '';
}
function badge(e, status) { e.textContent = status || '-'; e.setAttribute('data-tone', tone(status || '')); }

// ---- Prometheus text format (0.0.4) --------------------------------------
function parseValue(s) {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return s === '' ? NaN : Number(s);
}
// One sample line -> {name, labels, value}, or null when malformed.
function parseLine(line) {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
  const name = line.slice(0, i), labels = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (i >= line.length) return null;
      if (line[i] === '}') { i++; break; }
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return null;
      const key = line.slice(i, eq).trim();
      let v = '';
      for (i = eq + 2; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && i + 1 < line.length) { i++; v += line[i] === 'n' ? '\n' : line[i]; }
        else v += line[i];
      }
      if (i >= line.length) return null;
      i++;
      labels[key] = v;
    }
  }
  const value = parseValue(line.slice(i).trim().split(/\s+/)[0]);
  return Number.isNaN(value) ? null : { name, labels, value };
}
function parseMetrics(text) {
  const out = [];
  for (const raw of String(text || '').split('\n')) {
    const line = raw.trim();
    if (!line || line[0] === '#') continue;
    const s = parseLine(line);
    if (s) out.push(s);
  }
  return out;
}
function depKey(app, dep) { return app + '\u0000' + dep; }
function addBucket(buckets, le, v) {
  const b = parseValue(le);
  if (!Number.isNaN(b)) buckets.set(b, (buckets.get(b) || 0) + v);
}
// Sums the samples over replicas (per deployment) and over routes (HTTP).
function aggregate(samples) {
  const deps = new Map();
  const http = { requests: 0, codes: new Map(), buckets: new Map() };
  const dep = (l) => {
    const k = depKey(l.application || '', l.deployment || '');
    let d = deps.get(k);
    if (!d) deps.set(k, d = { requests: 0, errors: 0, ongoing: 0, buckets: new Map() });
    return d;
  };
  for (const s of samples) {
    const l = s.labels;
    switch (s.name.replace(/_total$/, '')) {
      case 'ray_serve_deployment_request_counter': dep(l).requests += s.value; break;
      case 'ray_serve_deployment_error_counter': dep(l).errors += s.value; break;
      case 'ray_serve_deployment_processing_latency_ms_bucket': addBucket(dep(l).buckets, l.le, s.value); break;
      case 'ray_serve_replica_processing_queries': dep(l).ongoing += s.value; break;
      case 'ray_serve_num_http_requests':
        http.requests += s.value;
        http.codes.set(l.status_code || '?', (http.codes.get(l.status_code || '?') || 0) + s.value);
        break;
      case 'ray_serve_http_request_latency_ms_bucket': addBucket(http.buckets, l.le, s.value); break;
    }
  }
  return { deps, http };
}
// A counter's increase; a smaller value means the counter was reset.
function increase(cur, prev) { const d = cur - (prev || 0); return d < 0 ? cur : d; }
// histogram_quantile over the increase of cumulative buckets, as Prometheus
// computes it: linear interpolation inside the bucket holding the rank; the
// +Inf bucket answers the highest finite bound.
function quantile(q, cur, prev) {
  const les = [...cur.keys()].sort((a, b) => a - b);
  if (les.length < 2 || les[les.length - 1] !== Infinity) return null;
  const counts = les.map((le) => increase(cur.get(le), prev && prev.get(le)));
  for (let i = 1; i < counts.length; i++) counts[i] = Math.max(counts[i], counts[i - 1]);
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let b = 0;
  while (b < les.length - 1 && counts[b] < rank) b++;
  if (b === les.length - 1) return les[les.length - 2];
  if (b === 0 && les[0] <= 0) return les[0];
  const lower = b === 0 ? 0 : les[b - 1], below = b === 0 ? 0 : counts[b - 1];
  const inside = counts[b] - below;
  return inside > 0 ? lower + (les[b] - lower) * (rank - below) / inside : les[b];
}

// ---- state: snapshots, rates, history ----------------------------------------
const state = { prev: null, source: null, rates: null, status: null, series: new Map(),
  http: { qps: [], p50: [], p99: [] }, lastData: 0 };
function push(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.splice(0, arr.length - HISTORY); }
function seriesOf(k) {
  let s = state.series.get(k);
  if (!s) state.series.set(k, s = { qps: [], p50: [], p99: [] });
  return s;
}
function computeRates(prev, cur, dt) {
  const deps = new Map();
  for (const [k, d] of cur.deps) {
    const p = prev.deps.get(k);
    const r = { qps: increase(d.requests, p && p.requests) / dt, eps: increase(d.errors, p && p.errors) / dt,
      p50: quantile(0.5, d.buckets, p && p.buckets), p99: quantile(0.99, d.buckets, p && p.buckets) };
    deps.set(k, r);
  }
  const h = cur.http, ph = prev.http;
  return { deps, http: { qps: increase(h.requests, ph.requests) / dt,
    p50: quantile(0.5, h.buckets, ph.buckets), p99: quantile(0.99, h.buckets, ph.buckets) } };
}
// One snapshot; `source` names the clock of `timeMs` (server or browser).
function onSample(source, timeMs, status, metricsText) {
  state.lastData = Date.now();
  if (status && typeof status === 'object') state.status = status;
  const cur = { t: timeMs, agg: aggregate(parseMetrics(metricsText)) };
  if (state.source !== source) { state.prev = null; state.source = source; }
  const prev = state.prev;
  if (!prev || timeMs > prev.t) {
    if (prev) {
      state.rates = computeRates(prev.agg, cur.agg, (timeMs - prev.t) / 1000);
      const keys = new Set(state.rates.deps.keys());
      for (const k of state.series.keys()) keys.add(k);
      for (const k of keys) {
        const r = state.rates.deps.get(k) || { qps: 0, p50: null, p99: null }, s = seriesOf(k);
        push(s.qps, r.qps); push(s.p50, r.p50); push(s.p99, r.p99);
      }
      push(state.http.qps, state.rates.http.qps);
      push(state.http.p50, state.rates.http.p50);
      push(state.http.p99, state.rates.http.p99);
    }
    state.prev = cur;
  }
  try { render(cur.agg); $('page-error').style.display = 'none'; }
  catch (e) { const pe = $('page-error'); pe.textContent = 'render error: ' + e; pe.style.display = 'block'; }
}

// ---- charts: inline SVG sparklines, newest sample at the right --------------
function spark(nLines, lat, w, h) {
  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('class', 'spark' + (lat ? ' lat' : ''));
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('height', h);
  for (let i = 0; i < nLines; i++) {
    const pl = document.createElementNS(SVGNS, 'polyline');
    pl.setAttribute('class', 's' + i);
    svg.appendChild(pl);
  }
  svg.appendChild(document.createElementNS(SVGNS, 'title'));
  return svg;
}
function draw(svg, lines, floor) {
  const [, , w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
  let max = floor;
  for (const s of lines) for (const v of s) if (v != null && isFinite(v)) max = Math.max(max, v);
  lines.forEach((s, k) => {
    const pts = [];
    s.forEach((v, i) => {
      if (v == null || !isFinite(v)) return;
      const x = w * (i + HISTORY - s.length) / (HISTORY - 1);
      pts.push(x.toFixed(1) + ',' + (h - 1 - (h - 3) * v / (max * 1.15)).toFixed(1));
    });
    svg.children[k].setAttribute('points', pts.join(' '));
  });
  svg.lastChild.textContent = 'max ' + fmtMs(max);
  return max;
}

// ---- rendering (keyed: elements persist across updates) ---------------------
const appViews = new Map();
const httpCharts = { qps: spark(1, false, 300, 70), lat: spark(2, true, 300, 70) };
$('http-qps-chart').appendChild(httpCharts.qps);
$('http-lat-chart').appendChild(httpCharts.lat);

function appView(name) {
  let v = appViews.get(name);
  if (v) return v;
  const sec = el('section', 'card app');
  sec.setAttribute('data-app', name);
  const head = el('header');
  const status = el('span', 'badge');
  const route = el('span', 'route');
  head.append(el('h3', 'app-name', name), route, status);
  const msg = el('div', 'msg');
  const table = el('table', 'deps');
  const hr = el('tr');
  for (const [t, c] of [['Deployment'], ['Status'], ['Repl.', 'num'], ['QPS', 'num'], ['p50 ms', 'num'],
                        ['p99 ms', 'num'], ['Err/s', 'num'], ['QPS / latency']])
    hr.appendChild(el('th', c, t));
  table.append(el('thead'), el('tbody'));
  table.tHead.appendChild(hr);
  sec.append(head, msg, table);
  v = { sec, status, route, msg, tbody: table.tBodies[0], deps: new Map() };
  appViews.set(name, v);
  return v;
}
function depView(av, name) {
  let v = av.deps.get(name);
  if (v) return v;
  const row = el('tr', 'dep');
  row.setAttribute('data-deployment', name);
  const c = {};
  const nameCell = el('td', 'dep-cell');
  c.name = el('span', 'dep-name', name);
  c.tags = el('span');
  nameCell.append(c.name, c.tags);
  const statusCell = el('td');
  c.status = el('span', 'badge');
  statusCell.appendChild(c.status);
  c.replicas = el('td', 'num'); c.qps = el('td', 'qps'); c.p50 = el('td', 'num p50');
  c.p99 = el('td', 'num p99'); c.eps = el('td', 'num eps');
  const trend = el('td', 'trend');
  c.qpsChart = spark(1, false, 62, 22); c.latChart = spark(2, true, 62, 22);
  trend.append(c.qpsChart, c.latChart);
  row.append(nameCell, statusCell, c.replicas, c.qps, c.p50, c.p99, c.eps, trend);
  const reps = el('tr', 'reps');
  c.repCell = el('td');
  c.repCell.colSpan = 8;
  reps.appendChild(c.repCell);
  v = { row, reps, c };
  av.deps.set(name, v);
  return v;
}
function replicaChip(r) {
  const chip = el('span', 'replica');
  chip.setAttribute('data-replica', String(r.replica_id));
  chip.setAttribute('data-tone', tone(r.state || ''));
  chip.append(el('span', '', '#' + r.replica_id + ' '), el('span', 'st', r.state || '?'),
    el('span', '', ' node ' + r.node_id + ' \u00b7 ' + (r.ongoing_requests || 0) + ' ongoing'));
  const models = r.multiplexed_model_ids || [];
  if (models.length) chip.appendChild(el('span', '', ' \u00b7 models ' + models.join(',')));
  if (r.version) chip.appendChild(el('span', '', ' \u00b7 v ' + r.version));
  return chip;
}
function render(agg) {
  const st = state.status || {}, apps = st.applications || {}, nodes = st.nodes || [], rates = state.rates;
  let nDeps = 0, nReps = 0;
  const appsEl = $('apps');
  const seen = new Set();
  for (const name of Object.keys(apps).sort()) {
    const a = apps[name] || {}, av = appView(name);
    seen.add(name);
    av.route.textContent = a.route_prefix || '(no route)';
    badge(av.status, a.status);
    av.msg.textContent = a.message || '';
    const depsSeen = new Set(), deps = a.deployments || {};
    for (const dn of Object.keys(deps).sort()) {
      const d = deps[dn] || {}, dv = depView(av, dn), c = dv.c, k = depKey(name, dn);
      const replicas = d.replicas || [];
      depsSeen.add(dn); nDeps++; nReps += replicas.length;
      c.tags.replaceChildren();
      if (a.ingress === dn) c.tags.appendChild(el('span', 'tag', 'ingress'));
      if (d.autoscaling) c.tags.appendChild(el('span', 'tag', 'autoscaling'));
      if (d.version) c.tags.appendChild(el('span', 'tag', 'v ' + d.version));
      badge(c.status, d.status);
      c.status.title = d.message || '';
      const ready = replicas.filter((r) => r.state === 'READY' || r.state === 'RUNNING').length;
      c.replicas.textContent = ready + '/' + (d.target_replicas != null ? d.target_replicas : replicas.length);
      const r = rates ? (rates.deps.get(k) || { qps: 0, eps: 0, p50: null, p99: null }) : null;
      c.qps.textContent = r ? fmtRate(r.qps) : '-';
      c.p50.textContent = r ? fmtMs(r.p50) : '-';
      c.p99.textContent = r ? fmtMs(r.p99) : '-';
      c.eps.textContent = r ? fmtRate(r.eps) : '-';
      const s = seriesOf(k);
      draw(c.qpsChart, [s.qps], 1);
      draw(c.latChart, [s.p50, s.p99], 1);
      c.repCell.replaceChildren(...replicas.map(replicaChip));
      if (d.message) c.repCell.appendChild(el('span', 'msg', d.message));
      av.tbody.append(dv.row, dv.reps);
    }
    for (const [dn, dv] of av.deps)
      if (!depsSeen.has(dn)) { dv.row.remove(); dv.reps.remove(); av.deps.delete(dn); }
    appsEl.appendChild(av.sec);
  }
  for (const [name, av] of appViews)
    if (!seen.has(name)) { av.sec.remove(); appViews.delete(name); }
  const empty = appsEl.querySelector('.empty');
  if (seen.size && empty) empty.remove();
  else if (!seen.size && !empty) appsEl.appendChild(el('div', 'card empty', 'No applications.'));

  const tbody = $('nodes').tBodies[0];
  tbody.replaceChildren(...nodes.map((n) => {
    const tr = el('tr');
    tr.setAttribute('data-node', String(n.node_id));
    const res = Object.entries(n.resources || {}).map(([k, v]) => k + ': ' + v).join(', ');
    const stCell = el('td'), b = el('span', 'badge');
    badge(b, n.state); stCell.appendChild(b);
    tr.append(el('td', '', String(n.node_id)), el('td', '', n.role || ''), el('td', '', n.address || ''),
      el('td', 'num', n.pid != null ? String(n.pid) : ''), stCell, el('td', '', res),
      el('td', 'num', String((n.replicas || []).length)));
    return tr;
  }));

  const h = rates ? rates.http : null;
  $('total-qps').textContent = h ? fmtRate(h.qps) : '-';
  $('http-p50').textContent = h ? fmtMs(h.p50) : '-';
  $('http-p99').textContent = h ? fmtMs(h.p99) : '-';
  $('http-total').textContent = String(Math.round(agg.http.requests));
  const codes = [...agg.http.codes.entries()].sort((x, y) => x[0].localeCompare(y[0]));
  $('http-codes').replaceChildren(...codes.map(([code, n]) => {
    const e = el('span', 'code', code + ': ' + Math.round(n));
    e.setAttribute('data-code', code);
    e.setAttribute('data-class', code.charAt(0));
    return e;
  }));
  $('http-qps-max').textContent = 'max ' + fmtRate(draw(httpCharts.qps, [state.http.qps], 1)) + ' req/s';
  $('http-lat-max').textContent = 'max ' + fmtMs(draw(httpCharts.lat, [state.http.p50, state.http.p99], 1)) + ' ms';
  const count = (n, what) => n + ' ' + what + (n === 1 ? '' : 's');
  $('summary').textContent = [count(seen.size, 'application'), count(nDeps, 'deployment'),
    count(nReps, 'replica'), count(nodes.length, 'node')].join(' \u00b7 ');
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
}

// ---- connection: SSE first, polling as the fallback -------------------------
// A stream that errors 3 times in a row, closes, or stays silent for 5 s is
// dropped for polling; the stream is tried again every 30 s.
const conn = { es: null, since: 0, failures: 0, polling: false, retry: null };
function setMode(mode, detail) {
  const e = $('conn');
  e.setAttribute('data-mode', mode);
  e.textContent = mode === 'sse' ? 'live (SSE)' : mode;
  e.title = detail || '';
}
function dropSSE(reason) {
  if (conn.es) { conn.es.close(); conn.es = null; }
  startPolling(reason);
  if (!conn.retry) conn.retry = setTimeout(startSSE, 30000);
}
function startSSE() {
  conn.retry = null;
  if (conn.es) { conn.es.close(); conn.es = null; }
  if (typeof EventSource !== 'function') { startPolling('EventSource unavailable'); return; }
  let es;
  try { es = new EventSource('/api/dashboard/events'); } catch (e) { dropSSE(String(e)); return; }
  conn.es = es;
  conn.since = Date.now();
  conn.failures = 0;
  es.onmessage = (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    conn.since = Date.now();
    conn.failures = 0;
    conn.polling = false; // ends the polling loop, if any
    setMode('sse');
    onSample('server', typeof d.time_ms === 'number' ? d.time_ms : Date.now(), d.status, d.metrics);
  };
  es.onerror = () => {
    if (conn.es !== es) return;
    if (es.readyState === EventSource.CLOSED || ++conn.failures >= 3) dropSSE('event stream failed');
    else if (!conn.polling) setMode('disconnected', 'event stream reconnecting');
  };
}
setInterval(() => {
  if (conn.es && Date.now() - conn.since > 5000) dropSSE('event stream silent');
}, 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function fetchOk(url, kind) {
  const signal = AbortSignal.timeout ? AbortSignal.timeout(4000) : undefined;
  const r = await fetch(url, { cache: 'no-store', signal });
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return kind === 'json' ? r.json() : r.text();
}
async function startPolling(reason) {
  if (conn.polling) return;
  conn.polling = true;
  setMode('polling', reason);
  while (conn.polling) {
    const t = Date.now();
    try {
      const [status, metrics] = await Promise.all([fetchOk('/api/serve/applications/', 'json'),
                                                  fetchOk('/-/metrics', 'text')]);
      if (!conn.polling) break;
      setMode('polling', reason);
      onSample('browser', t, status, metrics);
    } catch (e) {
      if (conn.polling) setMode('disconnected', String(e));
    }
    await sleep(Math.max(100, 1000 - (Date.now() - t)));
  }
}
startSSE();
</script>
</body>
</html>
)page";

} // namespace

std::string_view dashboard_html() noexcept {
  return page;
}

} // namespace actorserve::detail
