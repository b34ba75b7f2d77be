import { describe, expect, it } from 'vitest';
import { PlaceView } from '../../src/http/PlaceView.js';
import { SimCluster } from '../../src/sim/SimCluster.js';

const noConnections = () => ({ clients: 0, places: 0 });

describe('readiness (/health/ready)', () => {
  it('a place is ready once joined with every partition it holds backed up; a death makes it unready until repaired', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3, tuning: { lostAfterMs: 3000 } });
    const first = await sim.addPlace();
    const view = new PlaceView(first.node, noConnections);
    // Alone, before the cluster forms.
    expect(view.notReady()).toEqual(['the cluster has not formed yet']);
    await sim.addPlace();
    await sim.addPlace();
    // Ready once repaired and its lease (which a third voter joining interrupts) is back.
    await sim.net.runUntil(() => sim.repaired() && view.notReady().length === 0, 10_000);

    const c = sim.client();
    await sim.settle(Promise.all(Array.from({ length: 400 }, (_, i) => c.put(`k${i}`, 'x'.repeat(100)))));
    // Place 2 dies, no spare: place 0's partitions shared with it wait for a copy to place 1.
    sim.kill(sim.byId(2));
    await sim.net.runUntil(() => view.notReady().length > 0, 5_000);
    expect(view.notReady()[0]).toMatch(/^\d+ partitions held here lack an in-sync backup: \d+/);
    expect(view.keys().primary + view.keys().backup).toBeGreaterThan(0);
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    await sim.net.runUntil(() => view.notReady().length === 0, 5_000);
    expect(view.isLeader()).toBe(true);
    expect(new PlaceView(sim.byId(1).node, noConnections).isLeader()).toBe(false);
  });

  it('a place the table declared dead is not ready', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const paused = sim.byId(2);
    const view = new PlaceView(paused.node, noConnections);
    sim.pause(paused);
    await sim.net.runUntil(() => sim.leaderTable()!.members[2]!.state === 'dead', 10_000);
    // Its own table still says it is fine until it hears otherwise; once told, it is not ready.
    sim.resume(paused);
    await sim.net.runUntil(() => view.notReady().length > 0, 10_000);
    expect(view.notReady()[0]).toMatch(/declared dead|not joined|holds no lease/);
  });
});
