import type { Operation } from './history.js';
import type { CheckResult, LostWrite } from './linearizability.js';
import type { FaultRecord } from './Nemesis.js';

/** Everything the report shows. */
export interface ReportInput {
  title: string;
  operations: readonly Operation[];
  faults: readonly FaultRecord[];
  check: CheckResult;
  lost: readonly LostWrite[];
  summary: Record<string, unknown>;
  durationNs: number;
}

const W = 900;
const H = 220;
const PAD = { l: 56, r: 12, t: 12, b: 28 };
const COLORS = { ok: '#2e7d32', fail: '#1565c0', info: '#ef6c00' } as const;

function esc(s: unknown): string {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function x(ns: number, durationNs: number): number {
  return PAD.l + (Math.max(0, ns) / Math.max(1, durationNs)) * (W - PAD.l - PAD.r);
}

function faultBands(faults: readonly FaultRecord[], durationNs: number): string {
  return faults
    .map((f) => {
      const end = Number.isFinite(f.endNs) ? f.endNs : durationNs;
      const x0 = x(f.startNs, durationNs);
      const x1 = Math.max(x0 + 2, x(end, durationNs));
      return (
        `<rect x="${x0.toFixed(1)}" y="${PAD.t}" width="${(x1 - x0).toFixed(1)}" height="${H - PAD.t - PAD.b}" fill="#e53935" fill-opacity="0.12"><title>${esc(f.kind)} place ${f.placeId} (${esc(f.address)})</title></rect>` +
        `<text x="${(x0 + 2).toFixed(1)}" y="${PAD.t + 10}" font-size="10" fill="#b71c1c">${esc(f.kind)} ${f.placeId}</text>`
      );
    })
    .join('');
}

function timeAxis(durationNs: number): string {
  const seconds = durationNs / 1e9;
  const step = seconds > 120 ? 30 : seconds > 30 ? 10 : seconds > 10 ? 5 : 1;
  let out = `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#999"/>`;
  for (let s = 0; s <= seconds; s += step) {
    const px = x(s * 1e9, durationNs);
    out += `<line x1="${px}" y1="${H - PAD.b}" x2="${px}" y2="${H - PAD.b + 4}" stroke="#999"/><text x="${px}" y="${H - 8}" font-size="10" text-anchor="middle">${s}s</text>`;
  }
  return out;
}

/** Completions per time bucket, one line per outcome. */
function throughputChart(input: ReportInput): string {
  const buckets = Math.max(10, Math.min(200, Math.ceil(input.durationNs / 1e9)));
  const width = input.durationNs / buckets;
  const counts = {
    ok: new Array(buckets).fill(0),
    fail: new Array(buckets).fill(0),
    info: new Array(buckets).fill(0),
  };
  for (const op of input.operations) {
    const at = Number.isFinite(op.completeTime) ? op.completeTime : op.invokeTime;
    const b = Math.min(buckets - 1, Math.floor(at / width));
    counts[op.type][b]++;
  }
  const perSecond = 1e9 / width;
  const max = Math.max(1, ...counts.ok, ...counts.fail, ...counts.info) * perSecond;
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const lines = (Object.keys(counts) as (keyof typeof counts)[])
    .map((k) => {
      const pts = counts[k].map(
        (c, i) => `${x((i + 0.5) * width, input.durationNs).toFixed(1)},${y(c * perSecond).toFixed(1)}`,
      );
      return `<polyline fill="none" stroke="${COLORS[k]}" stroke-width="1.5" points="${pts.join(' ')}"/>`;
    })
    .join('');
  return (
    `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="throughput">` +
    faultBands(input.faults, input.durationNs) +
    timeAxis(input.durationNs) +
    `<text x="4" y="${PAD.t + 8}" font-size="10">${Math.round(max)}/s</text><text x="4" y="${H - PAD.b}" font-size="10">0</text>` +
    lines +
    '</svg>'
  );
}

/** Each operation's latency against its completion time, log scale; unknown outcomes along the top. */
function latencyChart(input: ReportInput): string {
  const ops = input.operations;
  const stride = Math.max(1, Math.ceil(ops.length / 5000));
  const latencies = ops
    .filter((o) => Number.isFinite(o.completeTime))
    .map((o) => (o.completeTime - o.invokeTime) / 1e6);
  const maxMs = Math.max(1, ...latencies);
  const lo = Math.log10(0.05);
  const hi = Math.log10(maxMs * 1.2);
  const y = (ms: number) =>
    H - PAD.b - ((Math.log10(Math.max(ms, 0.05)) - lo) / (hi - lo)) * (H - PAD.t - PAD.b - 8);
  let dots = '';
  for (let i = 0; i < ops.length; i += stride) {
    const o = ops[i];
    if (Number.isFinite(o.completeTime)) {
      dots += `<circle cx="${x(o.completeTime, input.durationNs).toFixed(1)}" cy="${y((o.completeTime - o.invokeTime) / 1e6).toFixed(1)}" r="1.3" fill="${COLORS[o.type]}"/>`;
    } else {
      dots += `<circle cx="${x(o.invokeTime, input.durationNs).toFixed(1)}" cy="${PAD.t + 2}" r="1.6" fill="${COLORS.info}"/>`;
    }
  }
  let ticks = '';
  for (let e = Math.ceil(lo); e <= hi; e++) {
    const ms = 10 ** e;
    ticks += `<line x1="${PAD.l - 4}" y1="${y(ms)}" x2="${W - PAD.r}" y2="${y(ms)}" stroke="#eee"/><text x="${PAD.l - 6}" y="${y(ms) + 3}" font-size="10" text-anchor="end">${ms >= 1 ? ms : ms.toFixed(1)}ms</text>`;
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="latency">${faultBands(input.faults, input.durationNs)}${ticks}${timeAxis(input.durationNs)}${dots}</svg>`;
}

function opRow(o: Operation, highlight: boolean): string {
  const ms = (ns: number) => (Number.isFinite(ns) ? (ns / 1e6).toFixed(3) : '∞');
  const value = o.f === 'read' ? JSON.stringify(o.output) : JSON.stringify(o.input);
  return `<tr${highlight ? ' class="blocked"' : ''}><td>${o.process}</td><td>${esc(o.f)}</td><td>${esc(value)}</td><td>${esc(o.type)}</td><td>${ms(o.invokeTime)}</td><td>${ms(o.completeTime)}</td></tr>`;
}

/** Renders the self-contained HTML report of a check run. */
export function renderReport(input: ReportInput): string {
  const { check, lost, summary } = input;
  const verdict = (v: unknown) =>
    v === true
      ? '<b class="good">yes</b>'
      : v === false
        ? '<b class="bad">NO</b>'
        : `<b class="warn">${esc(v)}</b>`;
  const violations = check.keys
    .filter((k) => k.violation !== undefined)
    .map((k) => {
      const v = k.violation!;
      return (
        `<h3>Key ${esc(k.key)}: no order fits</h3><p>After ${v.linearizedPrefix} operations were placed consistently, ` +
        `the register could hold ${v.statesBefore.map(esc).join(' or ')}, and the highlighted operation fits none of them.</p>` +
        `<table><tr><th>process</th><th>op</th><th>value</th><th>outcome</th><th>invoked (ms)</th><th>completed (ms)</th></tr>` +
        v.window.map((o) => opRow(o, o === v.blocked)).join('') +
        '</table>'
      );
    })
    .join('');
  const lostRows = lost
    .slice(0, 100)
    .map(
      (l) =>
        `<tr><td>${esc(l.key)}</td>${opRow(l.op, false).slice(4, -5)}<td>${esc(JSON.stringify(l.finalValue))}</td></tr>`,
    )
    .join('');
  const faults = input.faults
    .map(
      (f) =>
        `<tr><td>${esc(f.kind)}</td><td>${f.placeId} (${esc(f.address)})</td><td>${(f.startNs / 1e9).toFixed(2)}</td><td>${Number.isFinite(f.endNs) ? ((f.endNs - f.startNs) / 1e6).toFixed(0) : 'never'}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:960px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
.good{color:#2e7d32}.bad{color:#c62828}.warn{color:#ef6c00}tr.blocked{background:#ffebee}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
</style></head><body>
<h1>${esc(input.title)}</h1>
<table>
<tr><th>linearizable</th><td>${verdict(summary.linearizable)}</td></tr>
<tr><th>acknowledged writes lost</th><td>${lost.length === 0 ? '<b class="good">0</b>' : `<b class="bad">${lost.length}</b>`}</td></tr>
${Object.entries(summary)
  .filter(([k]) => k !== 'linearizable' && k !== 'lostWrites')
  .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
  .join('\n')}
<tr><th>checker time</th><td>${check.elapsedMs} ms</td></tr>
</table>
<p class="legend"><span><i style="background:${COLORS.ok}"></i>ok</span><span><i style="background:${COLORS.fail}"></i>fail (cas compare failed)</span><span><i style="background:${COLORS.info}"></i>info (outcome unknown)</span><span><i style="background:#e53935;opacity:.3"></i>fault, until repaired</span></p>
<h2>Throughput (completions per second)</h2>
${throughputChart(input)}
<h2>Latency</h2>
${latencyChart(input)}
<h2>Faults</h2>
<table><tr><th>fault</th><th>place</th><th>at (s)</th><th>repaired after (ms)</th></tr>${faults || '<tr><td colspan="4">none</td></tr>'}</table>
${violations ? `<h2>Violations</h2>${violations}` : ''}
${lost.length > 0 ? `<h2>Lost writes</h2><table><tr><th>key</th><th>process</th><th>op</th><th>value</th><th>outcome</th><th>invoked (ms)</th><th>completed (ms)</th><th>final value</th></tr>${lostRows}</table>` : ''}
<h2>Per key</h2>
<table><tr><th>key</th><th>operations checked</th><th>linearizable</th></tr>${check.keys.map((k) => `<tr><td>${esc(k.key)}</td><td>${k.operations}</td><td>${verdict(k.verdict)}</td></tr>`).join('')}</table>
</body></html>
`;
}
