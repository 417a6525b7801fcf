// Turnpike operator view: polls the admin API (same origin, bearer token)
// and shows live totals, charts (uPlot) and tables. Plain JS, no framework;
// the page is served under a strict Content-Security-Policy, so nothing here
// uses inline styles as attributes, eval or markup strings: elements are
// built with the DOM API and text is set with textContent.
'use strict';

(() => {
  // ---------------------------------------------------------------------
  // Prometheus text exposition format

  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

  function parseNumber(text) {
    switch (text) {
      case '+Inf': case 'Inf': return Infinity;
      case '-Inf': return -Infinity;
      case 'NaN': return NaN;
      default: {
        const n = Number(text);
        return text === '' ? NaN : n;
      }
    }
  }

  // One sample line: `name{label="value",...} value [timestamp]`, or null
  // when the line is not one.
  function parseSample(line) {
    const name = NAME.exec(line);
    if (!name) return null;
    let i = name[0].length;
    const labels = {};
    if (line[i] === '{') {
      i++;
      for (;;) {
        while (line[i] === ' ' || line[i] === '\t' || line[i] === ',') i++;
        if (line[i] === '}') { i++; break; }
        const label = LABEL_NAME.exec(line.slice(i));
        if (!label) return null;
        i += label[0].length;
        while (line[i] === ' ' || line[i] === '\t') i++;
        if (line[i] !== '=') return null;
        i++;
        while (line[i] === ' ' || line[i] === '\t') i++;
        if (line[i] !== '"') return null;
        i++;
        let value = '';
        for (;;) {
          if (i >= line.length) return null;
          const c = line[i];
          if (c === '"') { i++; break; }
          if (c === '\\') {
            const next = line[i + 1];
            value += next === 'n' ? '\n' : next === '\\' ? '\\' : next === '"' ? '"' : '\\' + (next ?? '');
            i += 2;
          } else {
            value += c;
            i++;
          }
        }
        labels[label[0]] = value;
      }
    }
    const rest = line.slice(i).trim().split(/[ \t]+/);
    if (rest.length < 1 || rest[0] === '') return null;
    const value = parseNumber(rest[0]);
    if (Number.isNaN(value) && rest[0] !== 'NaN') return null;
    return { name: name[0], labels, value };
  }

  // The samples of an exposition, and the type of each metric family.
  function parseMetrics(text) {
    const samples = [];
    const types = new Map();
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      if (line.startsWith('#')) {
        const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
        if (m) types.set(m[1], m[2]);
        continue;
      }
      const sample = parseSample(line);
      if (sample) samples.push(sample);
    }
    return { samples, types };
  }

  function seriesId(name, labels) {
    const keys = Object.keys(labels).sort();
    return name + '{' + keys.map((k) => k + '=' + JSON.stringify(labels[k])).join(',') + '}';
  }

  // The q-quantile of a histogram given as cumulative bucket counts
  // (Map from the `le` label to a count), as Prometheus' histogram_quantile
  // computes it: linear interpolation within the bucket the rank falls in;
  // the highest finite bound when it falls in +Inf. null without
  // observations.
  function histogramQuantile(q, buckets) {
    const list = [];
    for (const [le, count] of buckets) {
      const bound = parseNumber(le);
      if (!Number.isNaN(bound)) list.push([bound, count]);
    }
    list.sort((a, b) => a[0] - b[0]);
    if (list.length < 2 || list[list.length - 1][0] !== Infinity) return null;
    for (let i = 1; i < list.length; i++) {
      if (list[i][1] < list[i - 1][1]) list[i][1] = list[i - 1][1];
    }
    const total = list[list.length - 1][1];
    if (!(total > 0)) return null;
    const rank = q * total;
    let b = list.findIndex(([, count]) => count >= rank);
    if (b === -1 || b === list.length - 1) return list[list.length - 2][0];
    if (b === 0 && list[0][0] <= 0) return list[0][0];
    const start = b === 0 ? 0 : list[b - 1][0];
    const below = b === 0 ? 0 : list[b - 1][1];
    const inBucket = list[b][1] - below;
    if (inBucket <= 0) return list[b][0];
    return start + (list[b][0] - start) * ((rank - below) / inBucket);
  }

  // A scrape: every sample by series, and when it was taken.
  function scrapeOf(text, at, wall) {
    const { samples } = parseMetrics(text);
    const series = new Map();
    for (const s of samples) series.set(seriesId(s.name, s.labels), s);
    return { at, wall, series };
  }

  // How much each series of `cur` grew since `prev`, by metric name. A
  // series absent before started from zero; one that went down was reset
  // and counts from zero too (as Prometheus' rate() does).
  function deltas(prev, cur) {
    const byName = new Map();
    for (const [id, s] of cur.series) {
      const before = prev.series.get(id);
      let delta = s.value;
      if (before && s.value >= before.value) delta = s.value - before.value;
      if (!Number.isFinite(delta)) delta = 0;
      let list = byName.get(s.name);
      if (!list) byName.set(s.name, (list = []));
      list.push({ labels: s.labels, delta });
    }
    return byName;
  }

  function sumBy(list, keyOf, filter) {
    const out = new Map();
    for (const { labels, delta } of list ?? []) {
      if (filter && !filter(labels)) continue;
      const key = keyOf(labels);
      out.set(key, (out.get(key) ?? 0) + delta);
    }
    return out;
  }

  // Histogram bucket deltas summed by `keyOf`: Map key -> Map le -> count.
  function bucketsBy(list, keyOf) {
    const out = new Map();
    for (const { labels, delta } of list ?? []) {
      if (labels.le === undefined) continue;
      const key = keyOf(labels);
      let buckets = out.get(key);
      if (!buckets) out.set(key, (buckets = new Map()));
      buckets.set(labels.le, (buckets.get(labels.le) ?? 0) + delta);
    }
    return out;
  }

  const ALL = () => '';
  const ROUTE = (l) => JSON.stringify([l.api ?? '', l.stage ?? '', l.method ?? '', l.route ?? '']);

  function ratio(part, whole) {
    return whole > 0 ? part / whole : null;
  }

  // Everything the page shows that is computed from two scrapes.
  function analyse(prev, cur) {
    const seconds = cur.at - prev.at;
    if (!(seconds > 0)) return null;
    const d = deltas(prev, cur);
    const requests = d.get('turnpike_requests_total');
    const total = sumBy(requests, ALL).get('') ?? 0;
    const byClass = sumBy(requests, (l) => l.status_class ?? '');
    const c4 = byClass.get('4xx') ?? 0;
    const c5 = byClass.get('5xx') ?? 0;
    const latency = bucketsBy(d.get('turnpike_request_duration_seconds_bucket'), ALL).get('') ?? new Map();
    const hits = d.get('turnpike_cache_hits_total');
    const misses = d.get('turnpike_cache_misses_total');
    const hitCount = sumBy(hits, ALL).get('') ?? 0;
    const missCount = sumBy(misses, ALL).get('') ?? 0;
    const authorizer = bucketsBy(d.get('turnpike_authorizer_duration_seconds_bucket'), ALL).get('') ?? new Map();
    const plugin = bucketsBy(d.get('turnpike_plugin_duration_seconds_bucket'), ALL).get('') ?? new Map();

    // Per route.
    const routeTotals = sumBy(requests, ROUTE);
    const route4 = sumBy(requests, ROUTE, (l) => l.status_class === '4xx');
    const route5 = sumBy(requests, ROUTE, (l) => l.status_class === '5xx');
    const routeLatency = bucketsBy(d.get('turnpike_request_duration_seconds_bucket'), ROUTE);
    const routeHits = sumBy(hits, ROUTE);
    const routeMisses = sumBy(misses, ROUTE);
    const routes = [];
    for (const [key, count] of routeTotals) {
      const [api, stage, method, route] = JSON.parse(key);
      const buckets = routeLatency.get(key) ?? new Map();
      const h = routeHits.get(key) ?? 0;
      const m = routeMisses.get(key) ?? 0;
      routes.push({
        api, stage, method, route,
        rps: count / seconds,
        share4xx: ratio(route4.get(key) ?? 0, count),
        share5xx: ratio(route5.get(key) ?? 0, count),
        p50: histogramQuantile(0.5, buckets),
        p99: histogramQuantile(0.99, buckets),
        cache: ratio(h, h + m),
      });
    }

    // Per plugin.
    const pluginCalls = sumBy(d.get('turnpike_plugin_invocations_total'), (l) => l.plugin ?? '');
    const pluginFailures = sumBy(d.get('turnpike_plugin_invocations_total'), (l) => l.plugin ?? '', (l) => l.outcome !== 'ok');
    const pluginLatency = bucketsBy(d.get('turnpike_plugin_duration_seconds_bucket'), (l) => l.plugin ?? '');
    const plugins = new Map();
    for (const [name, calls] of pluginCalls) {
      plugins.set(name, {
        rps: calls / seconds,
        failures: (pluginFailures.get(name) ?? 0) / seconds,
        p99: histogramQuantile(0.99, pluginLatency.get(name) ?? new Map()),
      });
    }

    return {
      wall: cur.wall,
      rps: total / seconds,
      rps4xx: c4 / seconds,
      rps5xx: c5 / seconds,
      errorShare: ratio(c4 + c5, total),
      share4xx: ratio(c4, total),
      share5xx: ratio(c5, total),
      p50: histogramQuantile(0.5, latency),
      p99: histogramQuantile(0.99, latency),
      cache: ratio(hitCount, hitCount + missCount),
      authorizerP99: histogramQuantile(0.99, authorizer),
      pluginP99: histogramQuantile(0.99, plugin),
      routes,
      plugins,
    };
  }

  // Gauges: their current values.
  function gauges(scrape) {
    const connections = new Map();
    let open = null;
    let websocket = null;
    let generation = null;
    for (const s of scrape.series.values()) {
      if (s.name === 'turnpike_open_connections') {
        open = (open ?? 0) + s.value;
        const protocol = s.labels.protocol || 'other';
        connections.set(protocol, (connections.get(protocol) ?? 0) + s.value);
      } else if (s.name === 'turnpike_websocket_connections') {
        websocket = (websocket ?? 0) + s.value;
      } else if (s.name === 'turnpike_snapshot_generation') {
        generation = s.value;
      }
    }
    return { open, connections, websocket, generation };
  }

  if (typeof document === 'undefined') {
    // Loaded outside a browser (a unit test of the functions above).
    if (typeof module !== 'undefined') module.exports = { parseMetrics, histogramQuantile, scrapeOf, analyse, gauges };
    return;
  }

  // ---------------------------------------------------------------------
  // Formatting

  const DASH = '—';

  function fmtRate(v) {
    if (v == null || !Number.isFinite(v)) return DASH;
    if (v === 0) return '0';
    if (v < 0.1) return v.toFixed(3);
    if (v < 10) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return Math.round(v).toLocaleString('en-US');
  }

  function fmtPct(r) {
    if (r == null || !Number.isFinite(r)) return DASH;
    const p = r * 100;
    if (p === 0) return '0%';
    if (p === 100) return '100%';
    return (p < 10 ? p.toFixed(2) : p.toFixed(1)) + '%';
  }

  function fmtMs(seconds) {
    if (seconds == null || !Number.isFinite(seconds)) return DASH;
    const ms = seconds * 1000;
    if (ms >= 10000) return seconds.toFixed(1) + ' s';
    if (ms < 10) return ms.toFixed(2) + ' ms';
    if (ms < 100) return ms.toFixed(1) + ' ms';
    return Math.round(ms) + ' ms';
  }

  function fmtCount(v) {
    return v == null || !Number.isFinite(v) ? DASH : Math.round(v).toLocaleString('en-US');
  }

  const pad = (n) => String(n).padStart(2, '0');

  function fmtClock(date) {
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function fmtTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso ?? '';
    const now = new Date();
    const sameDay = date.toDateString() === now.toDateString();
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `;
    return (sameDay ? '' : day) + fmtClock(date);
  }

  // How a route is shown: its route key. The `route` label is either the
  // whole key ("GET /pets/{id}", "$default") or its path, with the method
  // in `method`.
  function routeKey(method, route) {
    if (!route) return '(no route matched)';
    if (route.startsWith('$') || /\s/.test(route) || !method) return route;
    return `${method} ${route}`;
  }

  // ---------------------------------------------------------------------
  // DOM helpers

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v == null || v === false) continue;
      if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const child of children.flat()) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function emptyRow(columns, text) {
    return h('tr', null, h('td', { class: 'empty', colspan: columns }, text));
  }

  function setText(id, text, bad) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle('bad', Boolean(bad));
  }

  // ---------------------------------------------------------------------
  // State

  const TOKEN_KEY = 'turnpike.adminToken';
  const WINDOW_SECONDS = 300;
  const CHART_HEIGHT = 190;
  const params = new URLSearchParams(location.search);
  const INTERVAL_MS = (() => {
    const n = Number(params.get('interval'));
    return Number.isFinite(n) && n >= 100 ? Math.min(n, 60000) : 2000;
  })();

  let session = 0; // bumped at every sign-out: late answers of an old session are dropped
  let timer = null;
  let inFlight = null;
  let dashboardShown = false;
  let previous = null; // the last scrape
  let latest = null; // the last analysis
  let pluginsData = null;
  let apisText = null;
  let errorsText = null;
  let consumersText = null;
  let history = emptyHistory();
  let charts = [];

  function emptyHistory() {
    return { x: [], rps: [], rps4xx: [], rps5xx: [], p50: [], p99: [], cache: [], authorizerP99: [], pluginP99: [] };
  }

  // ---------------------------------------------------------------------
  // Charts

  const COLORS = { blue: '#2563eb', amber: '#d97706', red: '#dc2626', violet: '#7c3aed', green: '#059669', cyan: '#0891b2', pink: '#db2777' };

  const CHARTS = [
    { id: 'chart-requests', fmt: fmtRate, series: [['Total', 'rps', COLORS.blue], ['4xx', 'rps4xx', COLORS.amber], ['5xx', 'rps5xx', COLORS.red]] },
    { id: 'chart-latency', fmt: (v) => fmtMs(v / 1000), series: [['p50', 'p50', COLORS.blue], ['p99', 'p99', COLORS.violet]], scale: 1000 },
    { id: 'chart-cache', fmt: (v) => v.toFixed(1) + '%', series: [['Hit ratio', 'cache', COLORS.green]], scale: 100, max: 100 },
    { id: 'chart-extensions', fmt: (v) => fmtMs(v / 1000), series: [['Authorizer p99', 'authorizerP99', COLORS.cyan], ['Plugin p99', 'pluginP99', COLORS.pink]], scale: 1000 },
  ];

  function axisValue(v) {
    if (Math.abs(v) >= 1000) return (v / 1000).toFixed(v % 1000 === 0 ? 0 : 1) + 'k';
    return String(Number(v.toPrecision(3)));
  }

  function createCharts() {
    const Plot = window.uPlot;
    if (typeof Plot !== 'function') throw new Error('uPlot did not load');
    const axis = { stroke: '#5f6b7a', grid: { stroke: '#eceff3', width: 1 }, ticks: { stroke: '#dde2e8', width: 1 }, font: '11px system-ui, sans-serif' };
    charts = CHARTS.map((spec) => {
      const el = $(spec.id);
      const width = Math.max(el.clientWidth, 240);
      const plot = new Plot({
        width,
        height: CHART_HEIGHT,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: {
          // The last minute at first, growing to the last five.
          x: {
            time: true,
            range: (u) => {
              const xs = u.data[0];
              const last = xs.length ? xs[xs.length - 1] : Date.now() / 1000;
              const span = Math.min(Math.max(last - (xs.length ? xs[0] : last), 60), WINDOW_SECONDS);
              return [last - span, last + span / 50];
            },
          },
          y: { range: (u, min, max) => [0, spec.max ?? (max > 0 ? max * 1.15 : 1)] },
        },
        axes: [
          {
            ...axis,
            space: 70,
            values: (u, ticks) => {
              const seconds = ticks.some((t) => t % 60 !== 0);
              return ticks.map((t) => fmtClock(new Date(t * 1000)).slice(0, seconds ? 8 : 5));
            },
          },
          { ...axis, size: 48, values: (u, values) => values.map(axisValue) },
        ],
        series: [
          { value: (u, v) => (v == null ? DASH : fmtClock(new Date(v * 1000))) },
          ...spec.series.map(([label, , color]) => ({
            label,
            stroke: color,
            width: 1.5,
            spanGaps: false,
            value: (u, v) => (v == null ? DASH : spec.fmt(v)),
          })),
        ],
      }, chartData(spec), el);
      const observer = new ResizeObserver(() => {
        const w = Math.max(el.clientWidth, 240);
        if (w !== plot.width) plot.setSize({ width: w, height: CHART_HEIGHT });
      });
      observer.observe(el);
      return { spec, plot, observer };
    });
  }

  function chartData(spec) {
    const scale = spec.scale ?? 1;
    return [
      history.x,
      ...spec.series.map(([, key]) => history[key].map((v) => (v == null ? null : v * scale))),
    ];
  }

  function updateCharts() {
    for (const { spec, plot } of charts) plot.setData(chartData(spec));
  }

  function destroyCharts() {
    for (const { plot, observer } of charts) {
      observer.disconnect();
      plot.destroy();
    }
    charts = [];
  }

  function record(analysis) {
    history.x.push(analysis.wall);
    for (const key of Object.keys(history)) {
      if (key !== 'x') history[key].push(analysis[key] ?? null);
    }
    const oldest = analysis.wall - WINDOW_SECONDS;
    let drop = 0;
    while (drop < history.x.length && history.x[drop] < oldest) drop++;
    if (drop > 0) for (const key of Object.keys(history)) history[key].splice(0, drop);
  }

  // ---------------------------------------------------------------------
  // Rendering

  function renderTotals(analysis, g) {
    setText('stat-rps', fmtRate(analysis?.rps));
    const errors = $('stat-errors');
    errors.replaceChildren(
      fmtPct(analysis?.errorShare),
      h('span', { class: 'detail' }, analysis ? `4xx ${fmtPct(analysis.share4xx)} · 5xx ${fmtPct(analysis.share5xx)}` : ''),
    );
    errors.classList.toggle('bad', Boolean(analysis && analysis.rps5xx > 0));
    setText('stat-p50', fmtMs(analysis?.p50));
    setText('stat-p99', fmtMs(analysis?.p99));
    setText('stat-cache', fmtPct(analysis?.cache));
    const detail = [...g.connections].sort().map(([protocol, n]) => `${protocol} ${fmtCount(n)}`);
    if (g.websocket != null) detail.push(`WebSocket ${fmtCount(g.websocket)}`);
    $('stat-connections').replaceChildren(fmtCount(g.open), h('span', { class: 'detail' }, detail.join(' · ')));
    setText('stat-generation', fmtCount(g.generation));
  }

  function compareRoutes(a, b) {
    // Requests that matched no API go last.
    if ((a.api === '') !== (b.api === '')) return a.api === '' ? 1 : -1;
    return a.api.localeCompare(b.api) || a.stage.localeCompare(b.stage)
      || routeKey(a.method, a.route).localeCompare(routeKey(b.method, b.route));
  }

  function renderRoutes(analysis) {
    const body = $('routes-table').tBodies[0];
    if (!analysis) {
      body.replaceChildren(emptyRow(9, 'Waiting for a second scrape of /metrics…'));
      return;
    }
    if (analysis.routes.length === 0) {
      body.replaceChildren(emptyRow(9, 'No requests yet'));
      return;
    }
    const rows = analysis.routes.slice().sort(compareRoutes).map((r) => {
      const unmatched = r.api === '';
      return h('tr', null,
        h('td', null, unmatched ? h('span', { class: 'subtle' }, '(none)') : r.api),
        h('td', null, r.stage),
        h('th', { scope: 'row', class: 'mono nowrap' }, unmatched ? '(no API matched)' : routeKey(r.method, r.route)),
        h('td', { class: 'num' }, fmtRate(r.rps)),
        h('td', { class: 'num' }, fmtPct(r.share4xx)),
        h('td', { class: r.share5xx > 0 ? 'num bad' : 'num' }, fmtPct(r.share5xx)),
        h('td', { class: 'num' }, fmtMs(r.p50)),
        h('td', { class: 'num' }, fmtMs(r.p99)),
        h('td', { class: 'num' }, fmtPct(r.cache)),
      );
    });
    body.replaceChildren(...rows);
  }

  function renderApis(data) {
    const body = $('apis-table').tBodies[0];
    const rows = [];
    for (const api of data.apis ?? []) {
      const stages = api.stages ?? [];
      if (stages.length === 0) rows.push(h('tr', null, h('th', { scope: 'row' }, api.name), h('td', { colspan: 4, class: 'subtle' }, 'no stages')));
      stages.forEach((stage, i) => {
        const serves = stage.deployment
          ? h('span', null, 'deployment ', h('code', null, stage.deployment))
          : h('span', { class: 'tag plain' }, 'configuration file');
        const canary = stage.canary
          ? h('span', null, h('code', null, stage.canary.deployment), ` · ${Number(stage.canary.percent)}%`)
          : h('span', { class: 'subtle' }, DASH);
        const variables = Object.entries(stage.variables ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
        rows.push(h('tr', null,
          i === 0 ? h('th', { scope: 'row', rowspan: stages.length }, api.name) : null,
          h('td', null, stage.name),
          h('td', null, serves),
          h('td', null, canary),
          h('td', { class: 'wrap mono' }, variables || h('span', { class: 'subtle' }, DASH)),
        ));
      });
    }
    body.replaceChildren(...(rows.length ? rows : [emptyRow(5, 'No APIs')]));
  }

  function renderPlugins() {
    const body = $('plugins-table').tBodies[0];
    if (!pluginsData) {
      body.replaceChildren(emptyRow(5, 'Loading…'));
      return;
    }
    const rows = (pluginsData.plugins ?? []).map((p) => {
      const active = p.active ?? '';
      const fromFile = p.file && p.file.sha256 === active;
      const calls = latest?.plugins.get(p.name);
      return h('tr', null,
        h('th', { scope: 'row' }, p.name),
        h('td', null, p.world),
        h('td', null,
          active ? h('code', { title: active }, active.slice(0, 12)) : h('span', { class: 'subtle' }, 'none'),
          ' ',
          active ? h('span', { class: fromFile ? 'tag plain' : 'tag' }, fromFile ? 'file' : 'upload') : null),
        h('td', { class: calls && calls.failures > 0 ? 'num bad' : 'num', title: calls && calls.failures > 0 ? `${fmtRate(calls.failures)}/s failed` : null }, latest ? fmtRate(calls?.rps ?? 0) : DASH),
        h('td', { class: 'num' }, fmtMs(calls?.p99)),
      );
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(5, 'No plugins configured')]));
    const pool = pluginsData.instances;
    $('plugin-instances').textContent = pool ? `WebAssembly instances: ${fmtCount(pool.live)} live of ${fmtCount(pool.capacity)}` : '';
  }

  function renderErrors(data) {
    const body = $('errors-table').tBodies[0];
    const rows = (data.errors ?? []).map((e) => {
      const status = Number(e.status);
      const where = [e.api, e.stage].filter(Boolean).join(' · ');
      return h('tr', null,
        h('td', { class: 'num' }, h('time', { datetime: e.time, title: e.time }, fmtTime(e.time))),
        h('td', { class: `num status-${Math.floor(status / 100)}` }, Number.isFinite(status) ? String(status) : DASH),
        h('td', null, e.method ?? ''),
        h('td', { class: 'nowrap mono' }, e.path ?? ''),
        h('td', { class: 'nowrap mono' }, e.routeKey ?? h('span', { class: 'subtle' }, DASH), where ? h('div', { class: 'subtle' }, where) : null),
        h('td', { class: 'message-text' }, e.message ?? ''),
        h('td', null, e.blame ? h('span', { class: 'tag plain' }, e.blame) : ''),
        h('td', { class: 'nowrap mono' }, e.requestId ?? ''),
      );
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No errors recorded')]));
  }

  // The developer portal's accounts, when the gateway runs a portal:
  // approve a pending one, disable an active one (its keys are revoked).
  function renderConsumers(data) {
    const section = $('portal-section');
    section.hidden = !data.portal;
    if (!data.portal) return;
    const body = $('consumers-table').tBodies[0];
    const rows = (data.consumers ?? []).map((c) => {
      const keys = (c.keys ?? []).map((k) => `${k.name} (${(k.usagePlans ?? []).join(', ')})`).join('; ');
      const action = c.status === 'pending' ? 'approve' : c.status === 'active' ? 'disable' : null;
      return h('tr', null,
        h('th', { scope: 'row' }, c.email),
        h('td', null, h('span', { class: c.status === 'active' ? 'tag' : 'tag plain' }, c.status)),
        h('td', { class: 'wrap mono' }, keys || h('span', { class: 'subtle' }, DASH)),
        h('td', { class: 'num' }, h('time', { datetime: c.createdAt, title: c.createdAt }, fmtTime(c.createdAt))),
        h('td', null, action
          ? h('button', { type: 'button', class: 'secondary', 'data-consumer': c.id, 'data-action': action }, action === 'approve' ? 'Approve' : 'Disable')
          : h('span', { class: 'subtle' }, DASH)),
      );
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(5, 'No accounts yet')]));
  }

  async function consumerAction(button) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    const id = button.getAttribute('data-consumer');
    const action = button.getAttribute('data-action');
    button.disabled = true;
    const response = await fetch(`/portal/consumers/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      credentials: 'omit',
    }).catch(() => null);
    $('portal-message').textContent = response && response.ok
      ? `${action === 'approve' ? 'Approved' : 'Disabled'} ${id}.`
      : `Could not ${action} ${id}.`;
    const list = await call('/portal/consumers', token, undefined, 'json').catch(() => null);
    if (list) renderConsumers(list);
  }

  function showProblems(problems) {
    const node = $('poll-problem');
    const text = problems.length ? `Some data could not be loaded: ${problems.join('; ')}` : '';
    if (node.textContent !== text) node.textContent = text;
    node.hidden = problems.length === 0;
  }

  // ---------------------------------------------------------------------
  // Polling

  class Rejected extends Error {}

  async function call(path, token, signal, kind) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${token}`, Accept: kind === 'text' ? 'text/plain' : 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
    if (response.status === 401) throw new Rejected();
    if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
    return kind === 'text' ? response.text() : response.json();
  }

  async function poll(mine, token) {
    inFlight = new AbortController();
    const signal = inFlight.signal;
    const [metrics, apis, plugins, errors, consumers] = await Promise.allSettled([
      call('/metrics', token, signal, 'text').then((text) => ({ text, at: performance.now() / 1000, wall: Date.now() / 1000 })),
      call('/apis', token, signal, 'json'),
      call('/plugins', token, signal, 'json'),
      call('/recent-errors', token, signal, 'json'),
      call('/portal/consumers', token, signal, 'json'),
    ]);
    if (mine !== session) return false;
    const all = [metrics, apis, plugins, errors];
    if (all.some((r) => r.status === 'rejected' && r.reason instanceof Rejected)) {
      signOut('Token rejected', true);
      return false;
    }
    const problems = all.filter((r) => r.status === 'rejected').map((r) => problemText(r.reason));
    if (problems.length === all.length && !dashboardShown) {
      signOut(`The admin API did not answer: ${problems[0]}`, true);
      return false;
    }
    if (!dashboardShown) showDashboard();

    if (metrics.status === 'fulfilled') {
      const scrape = scrapeOf(metrics.value.text, metrics.value.at, metrics.value.wall);
      if (previous) {
        const analysis = analyse(previous, scrape);
        if (analysis) {
          latest = analysis;
          record(analysis);
          updateCharts();
        }
      }
      previous = scrape;
      renderTotals(latest, gauges(scrape));
      renderRoutes(latest);
    } else if (!latest) {
      $('routes-table').tBodies[0].replaceChildren(emptyRow(9, `Not available: ${problemText(metrics.reason)}`));
    }
    if (apis.status === 'fulfilled') {
      const text = JSON.stringify(apis.value);
      if (text !== apisText) {
        apisText = text;
        renderApis(apis.value);
      }
    } else if (apisText === null) {
      $('apis-table').tBodies[0].replaceChildren(emptyRow(5, `Not available: ${problemText(apis.reason)}`));
    }
    if (plugins.status === 'fulfilled') pluginsData = plugins.value;
    if (plugins.status === 'fulfilled' || pluginsData) renderPlugins();
    else $('plugins-table').tBodies[0].replaceChildren(emptyRow(5, `Not available: ${problemText(plugins.reason)}`));
    if (errors.status === 'fulfilled') {
      const text = JSON.stringify(errors.value);
      if (text !== errorsText) {
        errorsText = text;
        renderErrors(errors.value);
      }
    } else if (errorsText === null) {
      $('errors-table').tBodies[0].replaceChildren(emptyRow(8, `Not available: ${problemText(errors.reason)}`));
    }
    if (consumers.status === 'fulfilled') {
      const text = JSON.stringify(consumers.value);
      if (text !== consumersText) {
        consumersText = text;
        renderConsumers(consumers.value);
      }
    }
    showProblems(problems);
    const seconds = INTERVAL_MS % 1000 === 0 ? `${INTERVAL_MS / 1000} s` : `${INTERVAL_MS} ms`;
    $('updated').textContent = `Updated ${fmtClock(new Date())} · every ${seconds}`;
    return true;
  }

  function problemText(reason) {
    if (reason instanceof TypeError) return 'no answer from the admin API';
    return reason?.message ?? String(reason);
  }

  async function loop(mine, token) {
    try {
      await poll(mine, token);
    } catch (error) {
      if (mine === session) showProblems([problemText(error)]);
    }
    if (mine === session) timer = setTimeout(() => loop(mine, token), INTERVAL_MS);
  }

  function start(token) {
    session++;
    $('sign-in').disabled = true;
    loop(session, token).finally(() => { $('sign-in').disabled = false; });
  }

  // ---------------------------------------------------------------------
  // Views

  function resetData() {
    previous = null;
    latest = null;
    pluginsData = null;
    apisText = null;
    errorsText = null;
    consumersText = null;
    history = emptyHistory();
    destroyCharts();
  }

  function showDashboard() {
    dashboardShown = true;
    $('login-view').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = false;
    renderTotals(null, { open: null, connections: new Map(), websocket: null, generation: null });
    renderRoutes(null);
    renderPlugins();
    $('apis-table').tBodies[0].replaceChildren(emptyRow(5, 'Loading…'));
    $('errors-table').tBodies[0].replaceChildren(emptyRow(8, 'Loading…'));
    createCharts();
  }

  function showLogin(message, bad) {
    dashboardShown = false;
    $('dashboard').hidden = true;
    $('sign-out').hidden = true;
    $('updated').textContent = '';
    $('login-view').hidden = false;
    const note = $('login-message');
    note.textContent = message ?? '';
    note.hidden = !message;
    note.classList.toggle('bad', Boolean(bad));
    const input = $('token');
    input.value = '';
    input.setAttribute('aria-invalid', bad ? 'true' : 'false');
    input.focus();
  }

  function signOut(message, bad) {
    session++;
    clearTimeout(timer);
    timer = null;
    inFlight?.abort();
    inFlight = null;
    sessionStorage.removeItem(TOKEN_KEY);
    resetData();
    showLogin(message, bad);
  }

  function init() {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      const note = $('login-message');
      if (!/^[\x20-\x7e]+$/.test(token)) {
        note.textContent = token ? 'The token has characters an HTTP header cannot carry' : 'Enter the admin token';
        note.classList.add('bad');
        note.hidden = false;
        $('token').focus();
        return;
      }
      note.hidden = true;
      sessionStorage.setItem(TOKEN_KEY, token);
      start(token);
    });
    $('sign-out').addEventListener('click', () => signOut('Signed out', false));
    $('consumers-table').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-consumer]');
      if (button) consumerAction(button);
    });
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start(token);
    else showLogin();
  }

  init();
})();
