import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a deputy that was frozen and declared dead comes back after the leader died', () => {
  it('must not take over with a stale table and overwrite live backups', async () => {
    // 4 active places, no spare: 0 leader, 1 deputy.
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 4 });
    await sim.start(4);
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[2].address, sim.places[3].address] });
    await sim.settle(Promise.all(Array.from({ length: 40 }, (_, i) => c.put(`k${i}`, 'old'))));

    // Failure 1: the deputy freezes; it is declared dead and the store repairs onto 0, 2, 3.
    const deputy = sim.places[1];
    sim.pause(deputy);
    await sim.net.runUntil(() => sim.leaderTable()!.members[1].state === 'dead' && sim.repaired(), 30_000);
    // Failure 2 (after repair): the leader dies; place 2 takes over (term 2) and repairs onto 2 and 3.
    sim.kill(sim.places[0]);
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 2 && sim.repaired(), 30_000);
    // Acknowledged writes the frozen place never saw.
    await sim.settle(Promise.all(Array.from({ length: 40 }, (_, i) => c.put(`k${i}`, 'new'))));
    const leaderVersion = sim.leaderTable()!.version;

    // The frozen deputy comes back: its table says leader 0 (gone), deputy itself.
    sim.resume(deputy);
    await sim.net.runFor(3_000);

    // Every live backup must still hold what its primary holds.
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    const t = sim.leaderTable()!;
    expect(t.version).toBeGreaterThanOrEqual(leaderVersion);
    const dump = (id: number, p: number) =>
      JSON.stringify(
        [...sim.byId(id).node.place.replica(p)!.data]
          .map(([k, v]) => [k, Buffer.from(v).toString('hex')])
          .sort(),
      );
    const mismatched = t.partitions.flatMap((a, p) =>
      dump(a.primary!, p) === dump(a.backup!, p) ? [] : [p],
    );
    // Show the consequence: the primary of a damaged partition dies (one failure after repair).
    if (mismatched.length > 0) {
      const p = mismatched[0];
      sim.kill(sim.byId(t.partitions[p].primary!));
      await sim.net.runUntil(
        () => sim.leaderTable()?.partitions[p].primary === t.partitions[p].backup,
        30_000,
      );
    }
    const got = await sim.settle(Promise.all(Array.from({ length: 40 }, (_, i) => c.get(`k${i}`))), 60_000);
    expect({ mismatched, lost: got.filter((v) => v !== 'new').length }).toEqual({ mismatched: [], lost: 0 });
  });
});
