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
