import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/client/errors.js';
import { PartitionTable } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster, type SimPlace } from '../../src/sim/SimCluster.js';

async function cluster(places: number, spares: number): Promise<SimCluster> {
  const sim = new SimCluster({ partitionCount: 16, minPlaces: places });
  await sim.start(places, { spares });
  await sim.net.runFor(500);
  return sim;
}

function cutBothWays(sim: SimCluster, a: SimPlace, b: SimPlace): void {
  sim.net.cut(a.address, b.address);
  sim.net.cut(b.address, a.address);
}

function healBothWays(sim: SimCluster, a: SimPlace, b: SimPlace): void {
  sim.net.heal(a.address, b.address);
  sim.net.heal(b.address, a.address);
}

/** A partition whose primary and backup are neither the leader, both places, and a key of it. */
function pairApartFromLeader(sim: SimCluster): {
  p: number;
  primary: SimPlace;
  backup: SimPlace;
  key: string;
} {
  const leaderId = sim.leader()!.node.place.id!;
  const t = sim.leaderTable()!;
  const p = t.partitions.findIndex((a) => a.primary !== leaderId && a.backup !== leaderId);
  const routing = new PartitionTable(t);
  let key = '';
  for (let i = 0; key === '' && i < 100_000; i++)
    if (routing.partitionOf(`p${p}-${i}`) === p) key = `p${p}-${i}`;
  return { p, primary: sim.byId(t.partitions[p]!.primary!), backup: sim.byId(t.partitions[p]!.backup!), key };
}

describe('a cut between a primary and its backup, both still reaching the leader', () => {
  it('does not hang writes: the primary reports the backup unreachable and the leader parts them', async () => {
    const sim = await cluster(4, 1);
    const c = sim.client();
    const { p, primary, backup, key } = pairApartFromLeader(sim);
    expect(sim.leaderTable()!.partitions[p]!.backup).toBe(backup.node.place.id);
    cutBothWays(sim, primary, backup);
    await sim.settle(c.put(key, 'during the cut'), 10_000);
    const after = sim.leaderTable()!.partitions[p]!;
    expect(after.primary).toBe(primary.node.place.id);
    expect(after.backup).not.toBe(backup.node.place.id);
    // Neither place was declared dead: only the link between them was cut.
    expect(sim.leaderTable()!.members.filter((m) => m.state === 'dead')).toEqual([]);
    healBothWays(sim, primary, backup);
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    expect(await sim.settle(c.get(key))).toBe('during the cut');
  });
});

describe('a leader whose answers to one member do not arrive (a one-way cut)', () => {
  it('sees its answers go unconfirmed and replaces the member, whose partitions answer again', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const leader = sim.leader()!;
    const member = sim.places.find((x) => x !== leader && x.node.place.id !== null && !x.node.config.spare)!;
    const key = sim.keyWithPrimary(member.node.place.id!);
    await sim.settle(c.put(key, 'before'));
    // The member's heartbeats reach the leader; the leader's answers (its lease) never reach it.
    sim.net.cut(leader.address, member.address);
    await sim.net.runUntil(
      () => sim.leaderTable()!.members.find((m) => m.id === member.node.place.id)?.state === 'dead',
      10_000,
    );
    await sim.settle(c.put(key, 'after'), 10_000);
    sim.net.heal(leader.address, member.address);
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    expect(await sim.settle(c.get(key))).toBe('after');
  });
});

describe('two places with the link between them cut', () => {
  it('neither answers ("no quorum") until the heal, then both do, and nothing acknowledged is lost', async () => {
    const sim = await cluster(2, 0);
    const c = sim.client({ timeoutMs: 3000 });
    const [a, b] = [sim.byId(0), sim.byId(1)];
    const keys = [sim.keyWithPrimary(0, 'a'), sim.keyWithPrimary(1, 'b')];
    for (const k of keys) await sim.settle(c.put(k, 'v1'));
    for (let round = 0; round < 2; round++) {
      cutBothWays(sim, a, b);
      for (const k of keys) {
        const err = await sim.settle(c.put(k, `cut-${round}`)).catch((e: Error) => e);
        expect(err).toBeInstanceOf(UnavailableError);
        expect((err as Error).message).toMatch(/no quorum/);
      }
      await sim.net.runFor(8000);
      expect(a.node.place.hasLease || b.node.place.hasLease).toBe(false);
      healBothWays(sim, a, b);
      await sim.net.runUntil(() => a.node.place.hasLease && b.node.place.hasLease, 10_000);
      for (const k of keys) await sim.settle(c.put(k, `healed-${round}`));
    }
    expect(await sim.settle(Promise.all(keys.map((k) => c.get(k))))).toEqual(['healed-1', 'healed-1']);
    // Whoever leads after the heal, the store repairs.
    await sim.net.runUntil(() => sim.repaired(), 30_000);
  });
});

describe('a connection to a backup that breaks twice within the resend period', () => {
  it('still gets what it lost sent again, once the period is over (found by seed 1512)', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const { p, primary, backup, key } = pairApartFromLeader(sim);
    sim.net.cut(primary.address, backup.address);
    const start = sim.net.now;
    const put = c.put(key, 'v');
    await sim.net.runFor(100);
    // The heal breaks the connection and the primary resends; that resend is lost with a second break.
    sim.net.heal(primary.address, backup.address);
    sim.net.cut(primary.address, backup.address);
    await sim.net.runFor(20);
    sim.net.heal(primary.address, backup.address);
    await sim.settle(put);
    // Sent again once the retry period (300 ms) was over, not a failure timeout later.
    expect(sim.net.now - start).toBeLessThan(700);
    expect(sim.leaderTable()!.partitions[p]!.backup).toBe(backup.node.place.id);
  });
});
