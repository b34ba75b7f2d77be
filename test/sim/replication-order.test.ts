import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionReplica } from '../../src/protocol/replication/PartitionReplica.js';
import type { ReplicateEntry } from '../../src/protocol/wire/messages.js';
import { SimCluster } from '../../src/sim/SimCluster.js';

function entry(s: number, k: string, v: string | null, e = 1): ReplicateEntry {
  return { t: 'repl', tv: 1, p: 0, e, s, k, v: v === null ? null : Buffer.from(v) };
}

describe('ordering at the backup', () => {
  it('applies entries in sequence order whatever order they arrive in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.option(fc.string(), { nil: null })), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.func(fc.integer()),
        (ops, rank) => {
          const entries = ops.map(([k, v], i) => entry(i + 1, k, v));
          const shuffled = [...entries].sort((x, y) => rank(x.s) - rank(y.s) || x.s - y.s);
          const backup = new PartitionReplica(0, 100, 100);
          backup.becomeBackup(1, false);
          for (const e of shuffled) backup.backupApply(e);
          const expected = new Map<string, string>();
          for (const [k, v] of ops) {
            if (v === null) expected.delete(k);
            else expected.set(k, v);
          }
          expect(backup.seq).toBe(entries.length);
          expect(new Map([...backup.data].map(([k, v]) => [k, Buffer.from(v).toString()]))).toEqual(expected);
        },
      ),
    );
  });

  it('holds a later entry until the missing one arrives, and ignores duplicates', () => {
    const backup = new PartitionReplica(0, 100, 100);
    backup.becomeBackup(0, false);
    expect(backup.backupApply(entry(2, 'k', 'second'))).toBe('buffered');
    expect(backup.data.has('k')).toBe(false);
    expect(backup.backupApply(entry(1, 'k', 'first'))).toBe('applied');
    expect(Buffer.from(backup.data.get('k')!).toString()).toBe('second');
    expect(backup.backupApply(entry(1, 'k', 'first'))).toBe('duplicate');
    expect(Buffer.from(backup.data.get('k')!).toString()).toBe('second');
  });

  it('keeps primary and backup identical when the network reorders every message', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2, seed: 7 });
    await sim.start(2);
    sim.net.reorder = true;
    const c = sim.client();
    // Many concurrent writes to few keys: any reordering that reached the backup would show as a difference.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 400; i++) {
      const key = `k${i % 5}`;
      writes.push(
        i % 3 === 0
          ? c.submitToKey(key, 'append', `${i},`).catch(() => c.put(key, `${i}`))
          : c.put(key, `${i}`),
      );
    }
    await sim.settle(Promise.all(writes));
    const table = sim.leaderTable()!;
    let compared = 0;
    for (let p = 0; p < table.partitions.length; p++) {
      const { primary, backup } = table.partitions[p];
      const a = sim.places[primary!].node.place.replica(p)!;
      const b = sim.places[backup!].node.place.replica(p)!;
      expect(b.seq).toBe(a.seq);
      expect([...b.data.entries()].sort()).toEqual([...a.data.entries()].sort());
      compared += a.data.size;
    }
    expect(compared).toBe(5);
  });
});
