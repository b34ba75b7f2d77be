import { seededRandom } from '../util/random.js';
import type { Operation } from './history.js';

/** The verdict on one key, or on a whole history. */
export type Verdict = true | false | 'unknown';

/** Why a key's history is not linearizable: the operation no order can fit, and the operations around it. */
export interface Violation {
  key: string;
  /** The operation that could not be linearized after the longest consistent prefix found. */
  blocked: Operation;
  /** The operations concurrent with it (overlapping in time), in invoke order. */
  window: Operation[];
  /** The register's possible values just before the blocked operation (JSON, null = absent). */
  statesBefore: string[];
  /** How many operations of the key were linearized in the longest consistent prefix found. */
  linearizedPrefix: number;
}

/** The outcome of checking one key. */
export interface KeyResult {
  key: string;
  verdict: Verdict;
  operations: number;
  violation?: Violation;
}

/** The outcome of checking a whole history. */
export interface CheckResult {
  verdict: Verdict;
  keys: KeyResult[];
  elapsedMs: number;
}

const ABSENT = 'null';

/** The register model: the state after op from state, or null when op cannot happen in state. */
function step(state: string, op: Operation): string | null {
  switch (op.f) {
    case 'read':
      return JSON.stringify(op.output ?? null) === state ? state : null;
    case 'write':
      return JSON.stringify(op.input ?? null);
    case 'delete':
      return ABSENT;
    case 'cas': {
      const [expected, next] = op.input as [unknown, unknown];
      const matches = JSON.stringify(expected ?? null) === state;
      // ok: it swapped; fail: the compare failed; info: it may have swapped (only if it matched).
      if (op.type === 'fail') return matches ? null : state;
      return matches ? JSON.stringify(next ?? null) : null;
    }
  }
}

interface Entry {
  op: Operation;
  isCall: boolean;
  prev: Entry | null;
  next: Entry | null;
  /** For a call entry, its return entry. */
  match: Entry | null;
}

/** Ops that constrain the search: info reads prove nothing, failed writes and deletes never happened. */
function relevant(op: Operation): boolean {
  if (op.type === 'info') return op.f !== 'read';
  if (op.type === 'fail') return op.f === 'cas';
  return true;
}

/**
 * Checks one key's operations with the Wing & Gong / Lowe search: try to linearize each pending call
 * in turn, backtrack when a return is reached whose call could not be placed, and memoize
 * (linearized set, state) so no configuration is explored twice. Operations with unknown outcome
 * return at infinity and need not be linearized at all.
 */
export function checkKey(
  key: string,
  ops: readonly Operation[],
  deadline: number,
  initial = ABSENT,
): KeyResult {
  const mine = ops.filter(relevant);
  const n = mine.length;
  const result: KeyResult = { key, verdict: true, operations: n };
  if (n === 0) return result;
  // Order: by event position; unknown outcomes return after everything else.
  const events: { at: number; entry: Entry }[] = [];
  const local = new Map<Operation, number>();
  mine.forEach((op, i) => {
    local.set(op, i);
    const call: Entry = { op, isCall: true, prev: null, next: null, match: null };
    const ret: Entry = { op, isCall: false, prev: null, next: null, match: null };
    call.match = ret;
    events.push({ at: op.invokeIndex, entry: call });
    events.push({ at: op.type === 'info' ? Number.MAX_SAFE_INTEGER - n + i : op.completeIndex, entry: ret });
  });
  events.sort((a, b) => a.at - b.at);
  const head: Entry = { op: mine[0], isCall: false, prev: null, next: null, match: null };
  let last = head;
  for (const { entry } of events) {
    last.next = entry;
    entry.prev = last;
    last = entry;
  }
  // Zobrist hashing of the linearized set: two random 32-bit words per operation.
  const random = seededRandom(0x5eed ^ n);
  const z1 = new Uint32Array(n);
  const z2 = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    z1[i] = Math.floor(random() * 2 ** 32);
    z2[i] = Math.floor(random() * 2 ** 32);
  }
  let h1 = 0;
  let h2 = 0;
  const seen = new Set<string>();
  const stack: { call: Entry; state: string }[] = [];
  let state = initial;
  let entry = head.next;
  let best = { depth: -1, blocked: mine[0], states: new Set<string>() };
  let steps = 0;

  const lift = (call: Entry) => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Entry) => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  while (entry !== null) {
    if (++steps % 4096 === 0 && performance.now() > deadline) {
      result.verdict = 'unknown';
      return result;
    }
    if (entry.isCall) {
      const next = step(state, entry.op);
      if (next !== null) {
        const i = local.get(entry.op)!;
        const k1 = (h1 ^ z1[i]) >>> 0;
        const k2 = (h2 ^ z2[i]) >>> 0;
        const memo = `${k1}:${k2}:${next}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ call: entry, state });
          state = next;
          h1 = k1;
          h2 = k2;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
      continue;
    }
    // A return: its operation has not been linearized.
    if (entry.op.type === 'info') return result;
    if (stack.length > best.depth)
      best = { depth: stack.length, blocked: entry.op, states: new Set([state]) };
    else if (stack.length === best.depth && best.blocked === entry.op) best.states.add(state);
    const top = stack.pop();
    if (top === undefined) {
      result.verdict = false;
      result.violation = describe(key, mine, best);
      return result;
    }
    const i = local.get(top.call.op)!;
    h1 = (h1 ^ z1[i]) >>> 0;
    h2 = (h2 ^ z2[i]) >>> 0;
    state = top.state;
    unlift(top.call);
    entry = top.call.next;
  }
  return result;
}

function describe(
  key: string,
  ops: readonly Operation[],
  best: { depth: number; blocked: Operation; states: Set<string> },
): Violation {
  const b = best.blocked;
  const window = ops
    .filter((o) => o.invokeIndex <= b.completeIndex && o.completeIndex >= b.invokeIndex)
    .sort((x, y) => x.invokeIndex - y.invokeIndex)
    .slice(0, 50);
  return {
    key,
    blocked: b,
    window,
    statesBefore: [...best.states],
    linearizedPrefix: Math.max(0, best.depth),
  };
}

/** Checks every key of a history (linearizability is local), within a time limit for the whole check. */
export function checkHistory(
  operations: readonly Operation[],
  final: Record<string, unknown> | null,
  timeLimitMs = 30_000,
): CheckResult {
  const started = performance.now();
  const deadline = started + timeLimitMs;
  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  // The final read happens after everything else: a read of each key that must fit at the end.
  let lastIndex = operations.reduce(
    (m, o) => Math.max(m, Number.isFinite(o.completeIndex) ? o.completeIndex : o.invokeIndex),
    0,
  );
  for (const [key, value] of Object.entries(final ?? {})) {
    if (!byKey.has(key)) byKey.set(key, []);
    lastIndex += 2;
    byKey.get(key)!.push({
      id: -1,
      process: -1,
      f: 'read',
      key,
      input: null,
      output: value ?? null,
      type: 'ok',
      invokeIndex: lastIndex - 1,
      completeIndex: lastIndex,
      invokeTime: Number.POSITIVE_INFINITY,
      completeTime: Number.POSITIVE_INFINITY,
    });
  }
  const keys: KeyResult[] = [];
  for (const [key, ops] of [...byKey].sort(([a], [b]) => a.localeCompare(b)))
    keys.push(checkKey(key, ops, deadline));
  const verdict: Verdict = keys.some((k) => k.verdict === false)
    ? false
    : keys.some((k) => k.verdict === 'unknown')
      ? 'unknown'
      : true;
  return { verdict, keys, elapsedMs: Math.round(performance.now() - started) };
}

/** An acknowledged write whose value vanished without a later write that could have replaced it. */
export interface LostWrite {
  key: string;
  op: Operation;
  finalValue: unknown;
}

/**
 * Finds acknowledged writes and swaps whose value is gone at the end, although no other mutation of
 * the key (acknowledged, or of unknown outcome) could have come after them.
 */
export function findLostWrites(
  operations: readonly Operation[],
  final: Record<string, unknown> | null,
): LostWrite[] {
  if (final === null) return [];
  const lost: LostWrite[] = [];
  const mutations = operations.filter(
    (o) => (o.f === 'write' || o.f === 'delete' || o.f === 'cas') && (o.type === 'ok' || o.type === 'info'),
  );
  // Per key, the completion positions of its mutations, sorted, to count those ending after a point.
  const ends = new Map<string, number[]>();
  for (const o of mutations) {
    const list = ends.get(o.key);
    if (list === undefined) ends.set(o.key, [o.completeIndex]);
    else list.push(o.completeIndex);
  }
  for (const list of ends.values()) list.sort((a, b) => a - b);
  for (const w of mutations) {
    if (w.type !== 'ok' || w.f === 'delete') continue;
    const written = w.f === 'write' ? w.input : (w.input as [unknown, unknown])[1];
    const finalValue = final[w.key] ?? null;
    if (JSON.stringify(finalValue) === JSON.stringify(written ?? null)) continue;
    // Another mutation of the key that was not over before this one began may have replaced it
    // (w itself ends after it began, so more than one must).
    const list = ends.get(w.key)!;
    const endingAfter = list.length - upperBound(list, w.invokeIndex);
    if (endingAfter <= 1) lost.push({ key: w.key, op: w, finalValue });
  }
  return lost;
}

/** Index of the first element greater than x in a sorted array. */
function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
