import { invariant } from '../invariant.js';
import { BATCH_ENTRY_FIELDS, type Outcome, type ReplicateEntry } from './messages.js';

/** Appends one entry to a batch in its flattened form (see ReplicateBatch): no object per entry on the wire. */
export function pushEntry(batch: unknown[], e: ReplicateEntry): void {
  batch.push(e.p, e.e, e.s, e.k, e.v, e.c ?? null, e.i ?? null, e.lo ?? 0, e.out ?? null);
}

/** Number of entries in a flattened batch. */
export function entryCount(es: readonly unknown[]): number {
  return Math.floor(es.length / BATCH_ENTRY_FIELDS);
}

function isOutcome(x: unknown): x is Outcome {
  return typeof x === 'object' && x !== null;
}

/** Entry n of a batch that decode.ts has checked (a field of the wrong type here is a bug). */
export function entryAt(es: readonly unknown[], n: number, tv: number): ReplicateEntry {
  const i = n * BATCH_ENTRY_FIELDS;
  const p = es[i];
  const e = es[i + 1];
  const s = es[i + 2];
  const k = es[i + 3];
  const v = es[i + 4];
  const c = es[i + 5];
  const id = es[i + 6];
  const lo = es[i + 7];
  const out = es[i + 8];
  invariant(
    typeof p === 'number' &&
      typeof e === 'number' &&
      typeof s === 'number' &&
      typeof k === 'string' &&
      (v === null || v instanceof Uint8Array) &&
      typeof lo === 'number',
    () => `replication batch entry ${n} was not checked`,
  );
  return {
    t: 'repl',
    tv,
    p,
    e,
    s,
    k,
    v,
    c: typeof c === 'string' ? c : undefined,
    i: typeof id === 'number' ? id : undefined,
    lo,
    out: isOutcome(out) ? out : undefined,
  };
}
