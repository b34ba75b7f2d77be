import { describe, expect, it } from 'vitest';
import { type HistoryEvent, pairOperations } from '../../src/check/history.js';
import { checkHistory, findLostWrites } from '../../src/check/linearizability.js';
import { seededRandom } from '../../src/util/random.js';
import { randomHistory } from '../support/histories.js';

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
  });

  it('reports unknown instead of hanging when the time limit is reached', () => {
    const events = randomHistory(7, 10, 20_000);
    const r = checkHistory(pairOperations(events), null, 0);
    expect(r.verdict).toBe('unknown');
  });
});
