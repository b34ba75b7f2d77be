import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a busy place is not a dead place', () => {
  it('a leader whose event loop was blocked counts only the silence it could hear', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3);
    await sim.net.runFor(500);
    const leader = sim.places[0]!;
    const member = sim.places[2]!;
    // The member's heartbeats are held up for 700 ms (a slow link), and right when they get through
    // the leader is busy for 450 ms: its next tick comes 1.15 s after the member was last heard, with
    // the member's heartbeats waiting unread behind that tick.
    const start = sim.net.now;
    sim.net.stall(member.address, leader.address, start + 700);
    await sim.net.runUntil(() => sim.net.now >= start + 600, 1000);
    sim.net.occupy(leader.address, 450);
    await sim.net.runFor(3000);
    const t = leader.node.place.tableData!;
    expect(t.members.find((m) => m.id === member.node.place.id)?.state).toBe('active');
    expect(t.members.every((m) => m.state !== 'dead')).toBe(true);
  });
});

describe('a place that finds it was paused', () => {
  it('keeps heartbeating while it re-checks its view, so a short stop does not cost it its place', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3);
    await sim.net.runFor(500);
    const leader = sim.places[0]!;
    const term = leader.node.place.tableData!.term;
    // Stopped for 700 ms: longer than half a failure timeout (it drops its lease and re-checks its view
    // on waking), shorter than a failure timeout (nobody has given up on it yet).
    sim.pause(leader);
    await sim.net.runFor(700);
    sim.resume(leader);
    await sim.net.runFor(3000);
    const t = sim.leaderTable()!;
    expect(t.term).toBe(term);
    expect(t.members.every((m) => m.state === 'active')).toBe(true);
    expect(sim.leader()).toBe(leader);
    // And the store answers again: the leader's re-check ended, and every place holds a lease.
    expect(sim.places.map((p) => p.node.place.hasLease)).toEqual([true, true, true]);
    const c = sim.client({ timeoutMs: 2000 });
    await sim.settle(Promise.all(Array.from({ length: 8 }, (_, i) => c.put(`k${i}`, `v${i}`))));
  });
});
