import { describe, expect, it } from 'vitest';
import type { PlaceEvent } from '../../src/protocol/events.js';
import { SimCluster, type SimPlace } from '../../src/sim/SimCluster.js';

type Of<K extends PlaceEvent['event']> = Extract<PlaceEvent, { event: K }> & { place: number | null };

function eventsOf<K extends PlaceEvent['event']>(p: SimPlace, kind: K): Of<K>[] {
  return p.node.events.since(1).filter((e) => e.event === kind) as unknown as Of<K>[];
}

async function started(spares: number): Promise<{ sim: SimCluster }> {
  const sim = new SimCluster({ partitionCount: 16, minPlaces: 3, tuning: { lostAfterMs: 3000 } });
  await sim.start(3, { spares });
  await sim.net.runFor(500);
  const c = sim.client();
  await sim.settle(Promise.all(Array.from({ length: 80 }, (_, i) => c.put(`k${i}`, `v${i}`))));
  return { sim };
}

describe('events: the decisions the protocol reports', () => {
  it('a member dies: the leader reports its death, each promotion, and the copies that repair it', async () => {
    const { sim } = await started(1);
    const leader = sim.byId(0);
    const table = sim.leaderTable()!;
    const primaries = table.partitions.flatMap((a, p) => (a.primary === 1 ? [p] : []));
    sim.kill(sim.byId(1));
    await sim.net.runUntil(() => sim.leaderTable()!.members[1]!.state === 'dead' && sim.repaired(), 30_000);

    const deaths = eventsOf(leader, 'place_dead');
    expect(deaths).toHaveLength(1);
    expect(deaths[0]).toMatchObject({ id: 1, by: 0, term: 1, place: 0, address: sim.byId(1).address });
    const promoted = eventsOf(leader, 'promoted').filter((e) => e.from === 1);
    expect(promoted.map((e) => e.partition).sort((a, b) => a - b)).toEqual(primaries);
    for (const e of promoted) {
      expect(e.epoch).toBeGreaterThan(table.partitions[e.partition]!.epoch);
      expect(e.primary).toBe(table.partitions[e.partition]!.backup);
    }
    const commits = eventsOf(leader, 'table_committed');
    expect(commits.some((e) => e.changes.includes('place 1 declared dead'))).toBe(true);
    // Every partition that lost a copy is copied again; each copy reports keys, bytes and time.
    const finished = sim.places.flatMap((p) => eventsOf(p, 'copy_finished'));
    const lostCopy = table.partitions.filter((a) => a.primary === 1 || a.backup === 1).length;
    expect(new Set(finished.map((e) => e.partition)).size).toBe(lostCopy);
    expect(finished.every((e) => e.to === 3 && e.durationMs >= 0)).toBe(true);
    expect(finished.reduce((n, e) => n + e.keys, 0)).toBeGreaterThan(0);
    expect(finished.every((e) => e.keys === 0 || e.bytes > 0)).toBe(true);
    const startedCopies = sim.places.flatMap((p) => eventsOf(p, 'copy_started'));
    expect(startedCopies.length).toBeGreaterThanOrEqual(lostCopy);
  });

  it('the leader dies: the deputy reports its takeover with the new term', async () => {
    const { sim } = await started(1);
    sim.kill(sim.byId(0));
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 1 && sim.repaired(), 30_000);
    const takeovers = eventsOf(sim.byId(1), 'takeover');
    expect(takeovers).toHaveLength(1);
    expect(takeovers[0]).toMatchObject({ term: 2, leader: 1, replaced: [0], place: 1 });
    expect(eventsOf(sim.byId(1), 'place_dead')[0]).toMatchObject({ id: 0, by: 1, term: 2 });
  });

  it('a member cut off loses its lease, and reports it regained once back', async () => {
    const { sim } = await started(1);
    const member = sim.byId(2);
    for (const p of sim.places) {
      if (p === member) continue;
      sim.net.cut(member.address, p.address);
      sim.net.cut(p.address, member.address);
    }
    await sim.net.runUntil(() => eventsOf(member, 'lease_lost').length > 0, 5_000);
    expect(eventsOf(member, 'lease_lost')[0]!.reason).toMatch(/no answer from a leader/);
    for (const p of sim.places) {
      sim.net.heal(member.address, p.address);
      sim.net.heal(p.address, member.address);
    }
    await sim.net.runUntil(() => eventsOf(member, 'lease_regained').length > 0, 30_000);
    expect(eventsOf(member, 'lease_regained')[0]!.withoutMs).toBeGreaterThan(0);
  });

  it('both copies of a partition gone: the leader reports the invalid verdict with its reason', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 5, tuning: { lostAfterMs: 3000 } });
    await sim.start(5);
    await sim.net.runFor(500);
    // Places 3 and 4 (not voters: the majority stays) die together; partitions on both are lost.
    expect(sim.leaderTable()!.partitions.some((a) => a.primary === 3 && a.backup === 4)).toBe(true);
    sim.kill(sim.byId(3));
    sim.kill(sim.byId(4));
    const leader = sim.byId(0);
    await sim.net.runUntil(() => eventsOf(leader, 'invalid').length > 0, 30_000);
    expect(eventsOf(leader, 'invalid')[0]!.reason).toMatch(/partition/);
    expect(leader.node.place.invalid).toBe(eventsOf(leader, 'invalid')[0]!.reason);
  });
});

describe('events across a takeover', () => {
  it('the new leader does not report again what the old one committed just before it died', async () => {
    // Voters 0, 1, 2; place 4 is not one. The leader commits 4's death, and dies before the deputy
    // hears that the table was committed (it only stored it, as a voter).
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 5, tuning: { lostAfterMs: 3000 } });
    await sim.start(5);
    await sim.net.runFor(500);
    const leader = sim.byId(0);
    sim.kill(sim.byId(4));
    await sim.net.runUntil(() => eventsOf(leader, 'place_dead').some((e) => e.id === 4), 10_000);
    // At once: nothing more leaves the old leader (what is in flight is lost), and it dies.
    for (const p of sim.places) if (p !== leader) sim.net.cut(leader.address, p.address);
    sim.kill(leader);
    await sim.net.runUntil(() => eventsOf(sim.byId(1), 'takeover').length > 0, 10_000);
    const newLeader = sim.byId(1);
    expect(eventsOf(newLeader, 'takeover')[0]).toMatchObject({ term: 2, leader: 1, replaced: [0] });
    // The new leader reports place 0's death, which it decided; not place 4's again.
    expect(eventsOf(newLeader, 'place_dead').map((e) => e.id)).toEqual([0]);
  });
});

describe('a won vote is not yet a takeover', () => {
  it('no takeover is reported when the winner cannot get its first table stored by a majority', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3, tuning: { lostAfterMs: 3000 } });
    await sim.start(3);
    await sim.net.runFor(500);
    const [deputy, third] = [sim.byId(1), sim.byId(2)];
    // The moment the deputy gets the vote that wins it the term, it is cut off from the third voter:
    // its first table of the term can never be stored by a majority.
    let won = false;
    const before = sim.net.onDeliver;
    sim.net.onDeliver = (from, to, msg) => {
      before?.(from, to, msg);
      if (
        !won &&
        msg.t === 'voteReply' &&
        msg.granted === true &&
        msg.pre !== true &&
        to === deputy.address
      ) {
        won = true;
        sim.net.cut(deputy.address, third.address);
        sim.net.cut(third.address, deputy.address);
      }
    };
    sim.kill(sim.byId(0));
    await sim.net.runUntil(() => won, 10_000);
    await sim.net.runFor(3_000);
    expect(eventsOf(deputy, 'takeover')).toEqual([]);
    expect(deputy.node.place.tableData!.term).toBe(1);
  });
});
