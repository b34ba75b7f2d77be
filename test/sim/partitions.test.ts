import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/client/errors.js';
import { DEFAULT_TUNING } from '../../src/protocol/PlaceConfig.js';
import { PartitionTable, type TableData, votersOf } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster, type SimPlace } from '../../src/sim/SimCluster.js';

/** The target for the majority side: a failure timeout, a lease (half of one) and 200 ms. */
const TARGET_MS = DEFAULT_TUNING.failureTimeoutMs * 1.5 + 200;

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
    const cutAt = sim.net.now;
    await sim.settle(c.put(key, 'during the cut'), 10_000);
    expect(sim.net.now - cutAt).toBeLessThan(TARGET_MS);
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
  it.each([
    ['the deputy', (t: TableData) => votersOf(t)[1]!.id],
    // That member finds the leader unreachable as its backup: believed, its report would leave the
    // member, cut off, as the only copy of its partitions (simulator seed 36).
    [
      'a member the leader backs up',
      (t: TableData) => t.partitions.find((a) => a.backup === votersOf(t)[0]!.id)!.primary!,
    ],
  ])(
    "sees its answers go unconfirmed, ignores the member's reports and replaces it within the target: %s",
    async (_, pick) => {
      const sim = await cluster(3, 1);
      const c = sim.client();
      const leader = sim.leader()!;
      const memberId = pick(sim.leaderTable()!);
      const member = sim.byId(memberId);
      const key = sim.keyWithPrimary(memberId);
      await sim.settle(c.put(key, 'before'));
      // The member's heartbeats and writes reach the leader; the leader's answers never reach it.
      sim.net.cut(leader.address, member.address);
      const cutAt = sim.net.now;
      // A write at once: the member still holds its lease, and replication to the leader stalls.
      const during = c.put(key, 'during').catch(() => 'failed');
      // Its lease runs out without answers; from then on its partitions wait for the leader's repair.
      await sim.net.runUntil(() => !member.node.place.hasLease, 2000);
      await sim.settle(c.put(key, 'after'), 10_000);
      expect(sim.net.now - cutAt).toBeLessThan(TARGET_MS);
      await sim.settle(during);
      await sim.net.runUntil(
        () => sim.leaderTable()!.members.find((m) => m.id === memberId)?.state === 'dead',
        10_000,
      );
      sim.net.heal(leader.address, member.address);
      await sim.net.runUntil(() => sim.repaired(), 30_000);
      expect(await sim.settle(c.get(key))).toBe('after');
    },
  );
});

describe('a split that leaves the leader and a member on the minority side', () => {
  it("has the new leader take the member's partitions within the target, not a failure timeout after its win", async () => {
    const sim = await cluster(5, 1);
    const c = sim.client();
    const t = sim.leaderTable()!;
    const [leaderId, deputyId] = votersOf(t).map((v) => v.id);
    // A member, not a voter, whose partitions' backups are on the majority side.
    const member = t.members.find(
      (m) =>
        !votersOf(t).some((v) => v.id === m.id) &&
        m.state === 'active' &&
        t.partitions.some((a) => a.primary === m.id && a.backup !== leaderId),
    )!;
    const p = t.partitions.findIndex((a) => a.primary === member.id && a.backup !== leaderId);
    const routing = new PartitionTable(t);
    let key = '';
    for (let i = 0; key === '' && i < 100_000; i++) if (routing.partitionOf(`m${i}`) === p) key = `m${i}`;
    await sim.settle(c.put(key, 'before'));
    const minority = [sim.byId(leaderId!), sim.byId(member.id)];
    const majority = sim.places.filter((x) => !minority.includes(x));
    for (const a of minority) for (const b of majority) cutBothWays(sim, a, b);
    const cutAt = sim.net.now;
    await sim.settle(c.put(key, 'after'), 10_000);
    expect(sim.net.now - cutAt).toBeLessThan(TARGET_MS);
    expect(sim.leader()?.node.place.id).toBe(deputyId);
    for (const a of minority) for (const b of majority) healBothWays(sim, a, b);
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
