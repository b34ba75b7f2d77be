import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a leader that was frozen and deposed comes back after its deputy died too', () => {
  it('must not lead alone on its stale table and answer clients', async () => {
    // 2 active places (0 leader, 1 deputy) and two spares (2, 3).
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 2 });
    await sim.start(2, { spares: 2 });
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[2].address, sim.places[3].address] });
    await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.put(`k${i}`, 'old'))));

    // Failure 1: the leader freezes; 1 takes over and repairs onto spare 2.
    const frozen = sim.places[0];
    sim.pause(frozen);
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 1 && sim.repaired(), 30_000);
    // Failure 2 (after repair): place 1 dies; 2 takes over and repairs onto spare 3.
    sim.kill(sim.places[1]);
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 2 && sim.repaired(), 30_000);
    await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.put(`k${i}`, 'new'))));

    // The frozen leader comes back. Nobody it knows answers it any more.
    sim.resume(frozen);
    await sim.net.runFor(3_000);

    // A client that happens to reach it first (its address is a seed) must never read the old values.
    const late = sim.client({ seeds: [frozen.address], timeoutMs: 3_000 });
    const read = await sim.settle(
      late.get('k3').catch((e: Error) => `error: ${e.message}`),
      10_000,
    );
    // ... and a write it acknowledges must be visible to the rest of the cluster.
    const acked = await sim.settle(
      late.put('only-here', 'x').then(
        () => true,
        () => false,
      ),
      10_000,
    );
    const seenByOthers = await sim.settle(c.get('only-here'));
    // The late client learns the real cluster from the place it reached (which rejoins as a spare).
    expect({ read, acked, seenByOthers }).toEqual({ read: 'new', acked: true, seenByOthers: 'x' });
  });
});
