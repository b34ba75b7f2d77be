import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('dead members pruned from the table', () => {
  it('the list stays bounded through respawns, and no id is used twice', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3, tuning: { maxDeadMembers: 1 } });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client();
    await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.put(`k${i}`, i))));
    const ids = new Set(sim.leaderTable()!.members.map((m) => m.id));
    const killed = new Set<number>();
    for (let round = 0; round < 4; round++) {
      // A member that is not the leader dies, and a new spare takes its place.
      const victim = sim.places.find(
        (p) => !killed.has(p.node.place.id ?? -1) && p !== sim.leader() && p.node.place.id !== null,
      )!;
      const victimId = victim.node.place.id!;
      killed.add(victimId);
      sim.kill(victim);
      const joiner = await sim.addPlace({ spare: true });
      await sim.net.runUntil(
        () =>
          sim.repaired() &&
          joiner.node.place.id !== null &&
          sim.leaderTable()!.members.find((m) => m.id === victimId)?.state !== 'active',
        30_000,
      );
      for (const m of sim.leaderTable()!.members) ids.add(m.id);
    }
    // Once the leader has nothing else to do, it prunes.
    await sim.net.runUntil(
      () => sim.leaderTable()!.members.filter((m) => m.state === 'dead').length <= 1,
      10_000,
    );
    const t = sim.leaderTable()!;
    // Four deaths and four joins: ids 0..7, each once, though the list holds five.
    expect([...ids].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(t.members.length).toBeLessThanOrEqual(5);
    expect(await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.get(`k${i}`))))).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('a place declared dead and pruned while it was stopped joins again as a spare when it resumes', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3, tuning: { maxDeadMembers: 0 } });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const stopped = sim.places.find(
      (p) => p !== sim.leader() && p.node.place.id !== null && !p.node.config.spare,
    )!;
    const oldId = stopped.node.place.id!;
    sim.pause(stopped);
    await sim.net.runUntil(
      () => sim.repaired() && sim.leaderTable()!.members.every((m) => m.id !== oldId),
      30_000,
    );
    sim.resume(stopped);
    await sim.net.runUntil(() => stopped.node.place.id !== null && stopped.node.place.id !== oldId, 30_000);
    const me = sim.leaderTable()!.members.find((m) => m.id === stopped.node.place.id)!;
    expect(me.address).toBe(stopped.address);
    expect(me.id).toBeGreaterThan(oldId);
  });
});
