import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

/** A get's reply: the value read (carried inline as `u`), or the error code. */
function outcomeOf(r: WireMessage): unknown {
  if (r.t === 'res') return r.u === undefined ? null : r.u;
  return r.code;
}

describe('leases granted after the grantor decided the holder is dead', () => {
  it('a primary the leader already declared dead (table not yet committed) gets no fresh lease', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client();
    const key = sim.keyWithPrimary(2);
    await sim.settle(c.put(key, 'old'));
    const oldTable = sim.leaderTable()!;
    const victim = sim.places[2];
    const leader = sim.places[0];
    const deputy = sim.places[1];

    // The link leader -> deputy is slow: the table that marks place 2 dead reaches the deputy late.
    let hold = true;
    let decidedAt = -1;
    sim.net.drop = (from, to, msg) => {
      if (hold && from === leader.address && to === deputy.address && msg.t === 'tablePush') {
        const t = msg.table as { members: { id: number; state: string }[] };
        if (t.members.find((m) => m.id === 2)?.state === 'dead') {
          if (decidedAt < 0) decidedAt = sim.net.now;
          return true;
        }
      }
      return false;
    };
    sim.pause(victim);
    await sim.net.runUntil(() => decidedAt >= 0, 30_000);
    // Place 2 wakes up after the leader decided it is dead, before the table is committed.
    await sim.net.runUntil(() => sim.net.now >= decidedAt + 250, 5_000);
    sim.resume(victim);
    // Give it time to heartbeat and ask for a lease.
    await sim.net.runFor(400);
    hold = false;
    // The table commits: place 2's backup is promoted and takes a new write.
    await sim.net.runUntil(() => leader.node.place.tableData!.members[2].state === 'dead', 5_000);
    const fresh = sim.client();
    await sim.settle(fresh.put(key, 'new'), 5_000);

    // A client still routing by the old table reads from place 2.
    const direct = sim.net.transport('direct');
    const replies: WireMessage[] = [];
    direct.onMessage((_l, m) => replies.push(m));
    direct
      .linkTo(victim.address)
      .send({ t: 'op', id: 1, c: 'direct', tv: oldTable.version, o: 'get', k: key });
    await sim.net.runUntil(() => replies.length > 0, 5_000);
    // After 'new' was acknowledged, a read returns 'new' or is refused (no lease, or not primary any more).
    expect(['new', 'unavailable', 'redirect']).toContain(outcomeOf(replies[0]!));
  });

  it('a leader its deputy is already taking over from (takeover not yet committed) gets no fresh lease', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[1].address, sim.places[2].address] });
    const key = sim.keyWithPrimary(0);
    await sim.settle(c.put(key, 'old'));
    const oldTable = sim.leaderTable()!;
    const [leader, deputy, third] = sim.places;

    // The link deputy -> next deputy is slow: the takeover table (term 2) commits late.
    let hold = true;
    let decidedAt = -1;
    sim.net.drop = (from, to, msg) => {
      if (hold && from === deputy.address && to === third.address && msg.t === 'tablePush') {
        if (decidedAt < 0) decidedAt = sim.net.now;
        return true;
      }
      return false;
    };
    sim.pause(leader);
    await sim.net.runUntil(() => decidedAt >= 0, 30_000);
    await sim.net.runUntil(() => sim.net.now >= decidedAt + 250, 5_000);
    sim.resume(leader);
    await sim.net.runFor(400);
    hold = false;
    await sim.net.runUntil(() => deputy.node.place.tableData!.term === oldTable.term + 1, 5_000);
    const fresh = sim.client({ seeds: [deputy.address] });
    await sim.settle(fresh.put(key, 'new'), 5_000);

    const direct = sim.net.transport('direct');
    const replies: WireMessage[] = [];
    direct.onMessage((_l, m) => replies.push(m));
    direct
      .linkTo(leader.address)
      .send({ t: 'op', id: 1, c: 'direct', tv: oldTable.version, o: 'get', k: key });
    await sim.net.runUntil(() => replies.length > 0, 5_000);
    expect(['new', 'unavailable', 'redirect']).toContain(outcomeOf(replies[0]!));
  });
});
