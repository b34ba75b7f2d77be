import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a long-paused place with a stale table', () => {
  it('does not turn a healthy store invalid when it comes back', async () => {
    // 3 active places (0 leader, 1 deputy, 2) and two spares (3, 4).
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
    await sim.start(3, { spares: 2 });
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[3].address, sim.places[4].address] });
    await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.put(`k${i}`, i))));

    // Failure 1: place 2 freezes; it is declared dead and the store repairs (spare 3 takes over).
    const frozen = sim.places[2];
    sim.pause(frozen);
    await sim.net.runUntil(() => sim.leaderTable()!.members[2].state === 'dead' && sim.repaired(), 30_000);
    // Failure 2 (after repair): the deputy dies; repaired with spare 4.
    sim.kill(sim.places[1]);
    await sim.net.runUntil(() => sim.leaderTable()!.members[1].state === 'dead' && sim.repaired(), 30_000);
    // Failure 3 (after repair): the leader dies; place 3 takes over and repairs onto 3 and 4.
    sim.kill(sim.places[0]);
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 3 && sim.repaired(), 30_000);
    expect(sim.places[3].node.place.invalid).toBeNull();

    // The frozen place comes back. Its table still names 0 as leader and 1 as deputy, both gone.
    sim.resume(frozen);
    await sim.net.runFor(5_000);

    // The store lost nothing: it must still be valid and answer.
    expect(sim.places[3].node.place.invalid).toBeNull();
    expect(sim.places[4].node.place.invalid).toBeNull();
    expect(await sim.settle(c.get('k7'))).toBe(7);
  });
});
