import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a copy whose target drops replication at its buffer bound', () => {
  it('still completes, and writes after it do not hang (review: async entries dropped were never sent again)', async () => {
    const sim = new SimCluster({
      partitionCount: 1,
      minPlaces: 2,
      tuning: { maxOutOfOrder: 4, snapshotPieceBytes: 64 },
    });
    await sim.start(2, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client({ timeoutMs: 20_000 });
    await sim.settle(Promise.all(Array.from({ length: 200 }, (_, i) => c.put(`k${i}`, 'x'.repeat(40)))));
    // The backup dies: the spare gets a whole-partition copy, slowed down, while writes go on.
    const backup = sim.backupOf('k0');
    const spare = sim.places[2]!;
    sim.net.workMs = (endpoint, msg) => (endpoint === spare.address && msg.t === 'snap' ? 20 : 0);
    sim.kill(backup);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      writes.push(c.put(`w${i}`, i));
      await sim.net.runFor(20);
    }
    const started = sim.net.now;
    await sim.settle(Promise.all(writes), 20_000);
    await sim.net.runUntil(() => sim.repaired(), 20_000);
    const after = sim.net.now;
    await sim.settle(c.put('after', 1), 5_000);
    expect(sim.backupOf('after')).toBe(spare);
    expect(spare.node.place.replica(0)!.data.size).toBe(
      sim.primaryOf('after').node.place.replica(0)!.data.size,
    );
    expect(after - started).toBeLessThan(10_000);
  });
});
