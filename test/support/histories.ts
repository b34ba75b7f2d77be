import type { HistoryEvent } from '../../src/check/history.js';
import { seededRandom } from '../../src/util/random.js';

/** Generates a linearizable history: each op takes effect at a random instant inside its interval. */
export function randomHistory(seed: number, processes: number, opsCount: number, keys = ['k']) {
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
