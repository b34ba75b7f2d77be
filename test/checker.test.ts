import { describe, expect, it } from 'vitest';
import { type HistoryEvent, pairOperations } from '../src/check/history.js';
import { checkHistory, findLostWrites } from '../src/check/linearizability.js';
import { seededRandom } from '../src/transport/MemoryNetwork.js';

type Ev = [number, HistoryEvent['type'], HistoryEvent['f'], unknown];

/** Builds a one-key history from [process, type, f, value] rows, in order. */
function history(rows: Ev[], key = 'k'): HistoryEvent[] {
  return rows.map(([process, type, f, value], time) => ({ process, type, f, key, value, time }));
}

function judge(rows: Ev[], final: Record<string, unknown> | null = null) {
  return checkHistory(pairOperations(history(rows)), final, 10_000);
}

describe('linearizability checker', () => {
  it('accepts a sequential history', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
      [0, 'invoke', 'read', null],
      [0, 'ok', 'read', 1],
      [0, 'invoke', 'cas', [1, 2]],
      [0, 'ok', 'cas', [1, 2]],
      [0, 'invoke', 'cas', [1, 3]],
      [0, 'fail', 'cas', [1, 3]],
      [0, 'invoke', 'delete', null],
      [0, 'ok', 'delete', null],
      [0, 'invoke', 'read', null],
      [0, 'ok', 'read', null],
    ]);
    expect(r.verdict).toBe(true);
  });

  it('accepts concurrent operations that fit some order', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'write', 2],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 2],
      [2, 'invoke', 'read', null],
      [0, 'ok', 'write', 1],
      [2, 'ok', 'read', 1],
      [1, 'ok', 'write', 2],
    ]);
    expect(r.verdict).toBe(true);
  });

  it('rejects a stale read after a completed write, naming the operations around it', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
      [0, 'invoke', 'write', 2],
      [0, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    ]);
    expect(r.verdict).toBe(false);
    const v = r.keys[0].violation!;
    expect(v.blocked).toMatchObject({ f: 'read', output: 1 });
    expect(v.statesBefore).toEqual(['2']);
  });

  it('rejects reads that see two values in contradicting orders', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'write', 2],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 1],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 2],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 2],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 1],
      [0, 'ok', 'write', 1],
      [1, 'ok', 'write', 2],
    ]);
    expect(r.verdict).toBe(false);
  });

  it('rejects a cas that succeeded against a value that could not be current', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
      [0, 'invoke', 'write', 2],
      [0, 'ok', 'write', 2],
      [1, 'invoke', 'cas', [1, 3]],
      [1, 'ok', 'cas', [1, 3]],
    ]);
    expect(r.verdict).toBe(false);
  });

  it('rejects a cas that failed although the value it expected was certainly current', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
      [1, 'invoke', 'cas', [1, 3]],
      [1, 'fail', 'cas', [1, 3]],
    ]);
    expect(r.verdict).toBe(false);
  });

  it('assumes an info write happened when a later read shows its value', () => {
    const r = judge([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
      [1, 'invoke', 'write', 2],
      [1, 'info', 'write', 2],
      [0, 'invoke', 'read', null],
      [0, 'ok', 'read', 2],
    ]);
    expect(r.verdict).toBe(true);
  });

  it('assumes an info write never happened when nothing ever shows it', () => {
    const r = judge(
      [
        [1, 'invoke', 'write', 2],
        [1, 'info', 'write', 2],
        [0, 'invoke', 'write', 1],
        [0, 'ok', 'write', 1],
        [0, 'invoke', 'read', null],
        [0, 'ok', 'read', 1],
      ],
      { k: 1 },
    );
    expect(r.verdict).toBe(true);
  });

  it('an info write may take effect long after it was invoked, but not before', () => {
    const before = judge([
      [0, 'invoke', 'read', null],
      [0, 'ok', 'read', 5],
      [1, 'invoke', 'write', 5],
      [1, 'info', 'write', 5],
    ]);
    expect(before.verdict).toBe(false);
  });

  it('the final read must fit after everything', () => {
    const rows: Ev[] = [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write', 1],
    ];
    expect(judge(rows, { k: 1 }).verdict).toBe(true);
    expect(judge(rows, { k: null }).verdict).toBe(false);
  });

  it('counts acknowledged writes that vanished, not those a later write may have replaced', () => {
    const ops = pairOperations(
      history([
        [0, 'invoke', 'write', 1],
        [0, 'ok', 'write', 1],
        [1, 'invoke', 'write', 2],
        [1, 'ok', 'write', 2],
        [2, 'invoke', 'write', 3],
        [2, 'info', 'write', 3],
      ]),
    );
    expect(findLostWrites(ops, { k: 3 })).toEqual([]);
    expect(findLostWrites(ops, { k: 2 })).toEqual([]);
    const lost = findLostWrites(ops.slice(0, 2), { k: 1 });
    expect(lost.map((l) => l.op.input)).toEqual([2]);
  });
});

/** Generates a linearizable history: each op takes effect at a random instant inside its interval. */
function randomHistory(seed: number, processes: number, opsCount: number, keys = ['k']) {
  const random = seededRandom(seed);
  type Planned = {
    process: number;
    f: HistoryEvent['f'];
    key: string;
    input: unknown;
    t0: number;
    tl: number;
    t1: number;
    type: HistoryEvent['type'];
    output?: unknown;
  };
  const planned: Planned[] = [];
  const clock = new Array(processes).fill(0);
  let value = 0;
  const written = new Map<string, unknown[]>(keys.map((k) => [k, [null]]));
  for (let i = 0; i < opsCount; i++) {
    const process = i % processes;
    const t0 = clock[process] + random() * 3;
    const t1 = t0 + 0.1 + random() * 10;
    clock[process] = t1;
    const key = keys[Math.floor(random() * keys.length)];
    const r = random();
    const f: HistoryEvent['f'] = r < 0.45 ? 'read' : r < 0.75 ? 'write' : r < 0.95 ? 'cas' : 'delete';
    const seen = written.get(key)!;
    const input =
      f === 'write' ? ++value : f === 'cas' ? [seen[Math.floor(random() * seen.length)], ++value] : null;
    if (f === 'write') seen.push(input);
    if (f === 'cas') seen.push((input as unknown[])[1]);
    planned.push({
      process,
      f,
      key,
      input,
      t0,
      tl: t0 + random() * (t1 - t0),
      t1,
      type: random() < 0.03 && f !== 'read' ? 'info' : 'ok',
    });
  }
  const state = new Map<string, unknown>();
  for (const p of [...planned].sort((a, b) => a.tl - b.tl)) {
    const cur = state.get(p.key) ?? null;
    if (p.type === 'info' && random() < 0.5) continue;
    if (p.f === 'read') p.output = cur;
    else if (p.f === 'write') state.set(p.key, p.input);
    else if (p.f === 'delete') state.set(p.key, null);
    else {
      const [expected, next] = p.input as [unknown, unknown];
      if (expected === cur) state.set(p.key, next);
      else if (p.type === 'ok') p.type = 'fail';
    }
  }
  const events: (HistoryEvent & { at: number; info: boolean })[] = [];
  for (const p of planned) {
    const info = p.type === 'info';
    events.push({
      process: p.process,
      type: 'invoke',
      f: p.f,
      key: p.key,
      value: p.f === 'read' ? null : p.input,
      time: 0,
      at: p.t0,
      info,
    });
    if (!info)
      events.push({
        process: p.process,
        type: p.type,
        f: p.f,
        key: p.key,
        value: p.f === 'read' ? p.output : p.input,
        time: 0,
        at: p.t1,
        info,
      });
  }
  events.sort((a, b) => a.at - b.at);
  // An info operation's process must not be reused: give the following ops of that process new ids.
  const renamed = new Map<number, number>();
  let nextId = processes;
  const out: HistoryEvent[] = [];
  for (const e of events) {
    const id = renamed.get(e.process) ?? e.process;
    out.push({ process: id, type: e.type, f: e.f, key: e.key, value: e.value, time: Math.round(e.at * 1e6) });
    if (e.type === 'invoke' && e.info) renamed.set(e.process, nextId++);
  }
  return out;
}

describe('checker on generated histories', () => {
  it('accepts random linearizable histories and rejects each with one read corrupted', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const events = randomHistory(seed, 5, 300, ['a', 'b']);
      const ok = checkHistory(pairOperations(events), null, 10_000);
      expect({ seed, verdict: ok.verdict }).toEqual({ seed, verdict: true });
      const reads = events.map((e, i) => [e, i] as const).filter(([e]) => e.f === 'read' && e.type === 'ok');
      const [, at] = reads[Math.floor(seededRandom(seed)() * reads.length)];
      const corrupted = events.map((e, i) => (i === at ? { ...e, value: 'never-written' } : e));
      const bad = checkHistory(pairOperations(corrupted), null, 10_000);
      expect({ seed, verdict: bad.verdict }).toEqual({ seed, verdict: false });
    }
  });

  it('judges 20,000 operations on one key from 10 processes within the time limit', () => {
    const events = randomHistory(42, 10, 20_000);
    const r = checkHistory(pairOperations(events), null, 20_000);
    expect(r.verdict).toBe(true);
    expect(r.keys[0].operations).toBeGreaterThan(19_000);
    expect(r.elapsedMs).toBeLessThan(20_000);
  });

  it('reports unknown instead of hanging when the time limit is reached', () => {
    const events = randomHistory(7, 10, 20_000);
    const r = checkHistory(pairOperations(events), null, 0);
    expect(r.verdict).toBe('unknown');
  });
});
