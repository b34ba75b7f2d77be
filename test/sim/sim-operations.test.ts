import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('operations over the in-memory network', () => {
  it('put, get, cas, delete and submitToKey round trip through primaries and backups', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
    await sim.start(3);
    const c = sim.client();
    await sim.settle(c.put('a', { n: 1 }));
    expect(await sim.settle(c.get('a'))).toEqual({ n: 1 });
    expect(await sim.settle(c.get('missing'))).toBeUndefined();
    expect(await sim.settle(c.compareAndSwap('a', { n: 2 }, 'x'))).toBe(false);
    expect(await sim.settle(c.compareAndSwap('a', { n: 1 }, 'x'))).toBe(true);
    expect(await sim.settle(c.compareAndSwap('b', undefined, 'fresh'))).toBe(true);
    expect(await sim.settle(c.compareAndSwap('b', undefined, 'again'))).toBe(false);
    expect(await sim.settle(c.get('a'))).toBe('x');
    await sim.settle(c.delete('a'));
    expect(await sim.settle(c.get('a'))).toBeUndefined();
    expect(await sim.settle(c.submitToKey('counter', 'increment', 5))).toBe(5);
    expect(await sim.settle(c.submitToKey('counter', 'increment'))).toBe(6);
    expect(await sim.settle(c.get('counter'))).toBe(6);
  });

  it('every acknowledged write is on the backup before the client hears of it', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3);
    const c = sim.client();
    for (let i = 0; i < 50; i++) await sim.settle(c.put(`k${i}`, i));
    const table = sim.leaderTable()!;
    for (let p = 0; p < table.partitions.length; p++) {
      const { primary, backup } = table.partitions[p];
      const primaryRep = sim.places[primary!].node.place.replica(p)!;
      const backupRep = sim.places[backup!].node.place.replica(p)!;
      expect(primaryRep.role).toBe('primary');
      expect(backupRep.role).toBe('backup');
      expect([...backupRep.data.entries()]).toEqual([...primaryRep.data.entries()]);
    }
  });
});
