import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../../src/protocol/PlaceConfig.js';
import { SimCluster } from '../../src/sim/SimCluster.js';

const TIMEOUT_MS = DEFAULT_TUNING.failureTimeoutMs;

describe('a place whose outgoing messages stall while it runs on', () => {
  it('does not judge the store lost from its own silence, and rejoins once its messages flow', async () => {
    // Found by the simulator's stalled connections: the place heard from nobody, took that as the
    // leader and the deputy both gone, and told everyone the store was invalid.
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 4 });
    await sim.start(4, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[0].address, sim.places[1].address] });
    await sim.settle(Promise.all(Array.from({ length: 20 }, (_, i) => c.put(`k${i}`, i))));

    // Place 3 (neither leader nor deputy) keeps receiving but nothing it sends arrives for 4 timeouts.
    const cutOff = sim.places[3];
    const stallEndMs = sim.net.now + 4 * TIMEOUT_MS;
    sim.net.stall(cutOff.address, null, stallEndMs);
    await sim.net.runUntil(() => sim.leaderTable()!.members[3].state === 'dead' && sim.repaired(), 30_000);
    await sim.net.runUntil(() => sim.net.now > stallEndMs + 2 * TIMEOUT_MS, 30_000);

    for (const p of sim.places) expect(p.node.place.invalid).toBeNull();
    expect(await sim.settle(c.get('k7'))).toBe(7);
    // Its messages flow again: it learns it was declared dead and comes back as a new member.
    await sim.net.runUntil(() => cutOff.node.place.id !== 3 && cutOff.node.place.id !== null, 30_000);
  });

  it('a leader cut off does not write everyone off and lead alone beside the cluster that went on', async () => {
    // Found by the simulator: the deposed leader, hearing nobody, marked every other member dead,
    // took a lease of its own as the only place left and admitted spares under its old term.
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 4 });
    await sim.start(4, { spares: 1 });
    await sim.net.runFor(500);
    const oldLeader = sim.places[0];
    const stallEndMs = sim.net.now + 4 * TIMEOUT_MS;
    sim.net.stall(oldLeader.address, null, stallEndMs);
    let ledAlone = false;
    await sim.net.runUntil(() => {
      const t = oldLeader.node.place.tableData;
      if (t?.members.every((m) => m.id === 0 || m.state === 'dead')) ledAlone = true;
      return sim.net.now > stallEndMs;
    }, 30_000);
    expect(ledAlone).toBe(false);
    // The others went on under a new leader; the old one learns it and comes back as a new member.
    expect(sim.leader()!.node.place.id).toBe(1);
    await sim.net.runUntil(() => oldLeader.node.place.id !== 0 && oldLeader.node.place.id !== null, 30_000);
    for (const p of sim.places) expect(p.node.place.invalid).toBeNull();
  });
});
