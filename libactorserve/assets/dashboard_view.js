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
