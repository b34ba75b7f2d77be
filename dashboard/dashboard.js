// The placestore dashboard: polls the places' read-only HTTP endpoints and draws what they say.
// It follows the leader: status comes from the leader's /api/status, found through any place.

const POLL_MS = 1000;
const CHART_POINTS = 120;
const MAX_EVENTS_SHOWN = 400;
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const state = {
  /** HTTP bases (http://host:port) of every place known, the page's own first. */
  bases: [location.origin],
  /** The base status is read from: the leader's once known. */
  base: location.origin,
  status: null,
  stats: new Map(),
  /** Per place address: the next event number to ask for. */
  eventCursors: new Map(),
  /** Per place address: the process its events came from (boot), to notice a restart. */
  eventBoots: new Map(),
  events: [],
  chart: { t: [], ops: [], p99: [] },
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function getJson(base, path) {
  const res = await fetch(base + path, { cache: 'no-store', signal: AbortSignal.timeout(1500) });
  if (!res.ok && res.status !== 503) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/**
 * The status with the newest table (term, then version) among every place known: a deposed leader
 * cut off with the minority still answers, with an older table, and must not win. The newest names
 * the leader, whose address becomes the source shown.
 */
async function fetchStatus() {
  const answers = await Promise.all(
    state.bases.map(async (base) => {
      try {
        const s = await getJson(base, '/api/status');
        return Array.isArray(s.places) ? { base, s } : null;
      } catch {
        return null; // down or slow
      }
    }),
  );
  let best = null;
  for (const a of answers) {
    if (a === null) continue;
    if (
      best === null ||
      a.s.term > best.s.term ||
      (a.s.term === best.s.term && a.s.tableVersion > best.s.tableVersion)
    )
      best = a;
  }
  if (best === null) return null;
  const s = best.s;
  // Places known: the live ones of the newest table (and this page's own, always asked).
  const live = s.places
    .filter((p) => p.state !== 'dead' && p.http)
    .map((p) => `${location.protocol}//${p.http}`);
  state.bases = [location.origin, ...live.filter((b) => b !== location.origin)];
  const leader = s.places.find((p) => p.id === s.leader);
  state.base = leader?.http ? `${location.protocol}//${leader.http}` : best.base;
  return s;
}

async function fetchStats(status) {
  const live = status.places.filter((p) => p.state !== 'dead' && p.http);
  const ids = new Set(live.map((p) => p.id));
  for (const id of state.stats.keys()) if (!ids.has(id)) state.stats.delete(id);
  await Promise.all(
    live.map(async (p) => {
      try {
        state.stats.set(p.id, await getJson(`${location.protocol}//${p.http}`, '/api/stats'));
      } catch {
        state.stats.delete(p.id);
      }
    }),
  );
}

async function fetchEvents(status) {
  const live = status.places.filter((p) => p.state !== 'dead' && p.http);
  await Promise.all(
    live.map(async (p) => {
      const since = state.eventCursors.get(p.address) ?? 1;
      try {
        const r = await getJson(`${location.protocol}//${p.http}`, `/api/events?since=${since}`);
        const boot = state.eventBoots.get(p.address);
        state.eventBoots.set(p.address, r.boot);
        if (boot !== undefined && boot !== r.boot && since > 1) {
          // Another process at that address: its events are numbered from 1 again.
          state.eventCursors.set(p.address, 1);
          return;
        }
        state.eventCursors.set(p.address, r.next);
        for (const e of r.events) state.events.push(e);
      } catch {
        // gone: its events stay shown
      }
    }),
  );
  state.events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  if (state.events.length > MAX_EVENTS_SHOWN) state.events.splice(0, state.events.length - MAX_EVENTS_SHOWN);
}

function placeColor(id) {
  return id === null || id === undefined ? '#1d232a' : PALETTE[id % PALETTE.length];
}

function renderSummary(s) {
  const summary = $('#summary');
  summary.replaceChildren();
  if (s === null) {
    summary.append(el('span', { class: 'bad' }, 'no place answers'));
    return;
  }
  summary.append(
    s.valid ? el('span', {}, 'valid') : el('span', { class: 'bad' }, `INVALID: ${s.invalidReason}`),
    ` · term ${s.term} · table ${s.tableVersion} · leader ${s.leader ?? 'none'} · deputy ${s.deputy ?? 'none'} · voters ${s.voters.join(', ')}`,
  );
  $('#source').textContent = `from ${state.base}`;
}

function renderMembers(s) {
  const body = $('#members tbody');
  body.replaceChildren();
  for (const p of s.places) {
    const st = state.stats.get(p.id);
    const keys = st ? st.keys.primary + st.keys.backup : '';
    const row = el(
      'tr',
      { 'data-place': p.id, class: `${p.state} ${p.role}` },
      el('td', {}, el('span', { class: 'swatch', style: `background:${placeColor(p.id)}` }), p.id),
      el('td', {}, p.http ? el('a', { href: `${location.protocol}//${p.http}/` }, p.address) : p.address),
      el('td', {}, p.role),
      el('td', {}, p.zone ?? ''),
      el('td', { 'data-field': 'state' }, p.state),
      el('td', {}, p.primaries),
      el('td', {}, p.backups),
      el('td', {}, keys),
      el('td', { 'data-field': 'ops' }, st ? st.opsPerSec.toFixed(0) : ''),
      el('td', {}, st && st.p99Ms !== null ? st.p99Ms.toFixed(2) : ''),
      el('td', {}, st ? (st.lease ? 'yes' : 'no') : ''),
    );
    body.append(row);
  }
}

function renderGrid(s) {
  const grid = $('#grid');
  grid.replaceChildren();
  if (!s.formed) {
    grid.append(el('span', { class: 'muted' }, `forming: waiting for ${s.minPlaces} places`));
    return;
  }
  for (const p of s.partitions) {
    const cell = el(
      'div',
      {
        class: `cell ${p.state}`,
        'data-partition': p.id,
        'data-primary': p.primary ?? '',
        'data-state': p.state,
        title: `partition ${p.id}: primary ${p.primary ?? 'none'}, backup ${p.backup ?? 'none'}, epoch ${p.epoch}, ${p.state}${p.target !== null ? `, copying to ${p.target}` : ''}`,
        style: `background:${placeColor(p.primary)}`,
      },
      p.primary ?? '',
    );
    grid.append(cell);
  }
}

function renderCopies() {
  const box = $('#copies');
  box.replaceChildren();
  const rows = [];
  for (const st of state.stats.values()) for (const c of st.copies) rows.push({ from: st.id, ...c });
  if (rows.length === 0) {
    box.append(el('span', { class: 'muted' }, 'none'));
    return;
  }
  const queued = rows.filter((c) => c.kind === 'queued');
  for (const c of rows) {
    if (c.kind === 'queued') continue;
    const label = `p${c.partition}: ${c.from} → ${c.to}${c.kind === 'handover' ? ' (handover)' : c.kind === 'queued' ? ' (queued)' : ''}`;
    const max = Math.max(1, c.keysTotal);
    const value = c.inSync ? max : Math.min(max, c.keysSent);
    box.append(
      el(
        'div',
        { class: 'copy', 'data-partition': c.partition },
        el('span', {}, label),
        el('progress', { max, value }),
        el('span', {}, c.inSync ? 'catching up' : `${c.keysSent}/${c.keysTotal}`),
      ),
    );
  }
  if (queued.length > 0) {
    const shown = queued
      .slice(0, 12)
      .map((c) => `p${c.partition} ${c.from}→${c.to}`)
      .join(', ');
    box.append(
      el('div', { class: 'muted' }, `${queued.length} queued: ${shown}${queued.length > 12 ? ', …' : ''}`),
    );
  }
}

function renderEvents() {
  const list = $('#events');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren();
  for (const e of state.events) {
    list.append(
      el(
        'li',
        { class: e.event, 'data-event': e.event },
        el('span', { class: 'muted' }, `${e.time.slice(11, 23)} `),
        el('span', { class: 'muted' }, `place ${e.place ?? '?'} `),
        el('span', { class: 'kind' }, e.event),
        ' ',
        e.msg,
      ),
    );
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

let opsPlot = null;
let latencyPlot = null;

/** 1500 -> 1.5k: axis labels that fit. */
function compact(v) {
  if (v === null) return '';
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

function chartOpts(title, label, width) {
  return {
    title,
    width,
    height: 180,
    scales: { x: { time: true } },
    series: [{}, { label, stroke: '#1f77b4', width: 2 }],
    axes: [{}, { size: 60, values: (_u, ticks) => ticks.map(compact) }],
  };
}

function renderCharts() {
  const now = Date.now() / 1000;
  let ops = 0;
  let p99 = null;
  for (const st of state.stats.values()) {
    ops += st.opsPerSec;
    if (st.p99Ms !== null) p99 = Math.max(p99 ?? 0, st.p99Ms);
  }
  const c = state.chart;
  c.t.push(now);
  c.ops.push(ops);
  c.p99.push(p99);
  if (c.t.length > CHART_POINTS) {
    c.t.shift();
    c.ops.shift();
    c.p99.shift();
  }
  if (typeof uPlot === 'undefined') return;
  const width = Math.max(260, Math.floor(($('#charts-section').clientWidth - 40) / 2));
  if (opsPlot === null) {
    opsPlot = new uPlot(chartOpts('ops/s', 'ops/s', width), [c.t, c.ops], $('#ops-chart'));
    latencyPlot = new uPlot(
      chartOpts('p99 latency (ms, slowest place)', 'p99 ms', width),
      [c.t, c.p99],
      $('#latency-chart'),
    );
  } else {
    opsPlot.setData([c.t, c.ops]);
    latencyPlot.setData([c.t, c.p99]);
  }
}

async function fetchTotal(status) {
  // The total of answered operations comes from each place's counters, summed.
  let total = 0;
  for (const st of state.stats.values()) total += st.opsAnswered ?? 0;
  $('#ops-total').textContent = String(total);
  return status;
}

async function poll() {
  try {
    const s = await fetchStatus();
    state.status = s;
    renderSummary(s);
    if (s !== null) {
      await Promise.all([fetchStats(s), fetchEvents(s)]);
      renderMembers(s);
      renderGrid(s);
      renderCopies();
      renderEvents();
      await fetchTotal(s);
    }
    renderCharts();
  } catch (err) {
    // One bad answer must not stop the page: it shows the error and polls again.
    $('#source').textContent = `error: ${err.message}`;
  } finally {
    document.body.dataset.polls = String(Number(document.body.dataset.polls ?? 0) + 1);
    setTimeout(poll, POLL_MS);
  }
}

poll();
