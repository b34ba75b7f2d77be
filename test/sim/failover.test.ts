import { describe, expect, it } from 'vitest';
import { StoreInvalidError, UnavailableError } from '../../src/client/errors.js';
import type { StoreClient } from '../../src/client/StoreClient.js';
import { SimCluster } from '../../src/sim/SimCluster.js';

const TIMEOUT = 1000;

async function cluster(places: number, spares: number, seed = 1, voters = 3): Promise<SimCluster> {
  const sim = new SimCluster({
    partitionCount: 16,
    minPlaces: places,
    seed,
    tuning: { voters, lostAfterMs: 3000 },
  });
  await sim.start(places, { spares });
  await sim.net.runFor(500);
  return sim;
}

/** Writes k0..k(n-1) and returns them with the values written. */
async function fill(sim: SimCluster, c: StoreClient, n: number): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  await sim.settle(Promise.all(Array.from({ length: n }, (_, i) => c.put(`k${i}`, `v${i}`))));
  for (let i = 0; i < n; i++) written.set(`k${i}`, `v${i}`);
  return written;
}

async function expectAll(sim: SimCluster, c: StoreClient, written: Map<string, string>): Promise<void> {
  const keys = [...written.keys()];
  const got = await sim.settle(Promise.all(keys.map((k) => c.get(k))));
  expect(Object.fromEntries(keys.map((k, i) => [k, got[i]]))).toEqual(Object.fromEntries(written));
}

/** A writer that keeps writing increasing values to its key; acked is the highest acknowledged one. */
function writer(c: StoreClient, key: string, count: number) {
  const state = { acked: -1, attempted: -1, done: false };
  const run = (async () => {
    for (let i = 0; i < count; i++) {
      state.attempted = i;
      try {
        await c.put(key, i);
        state.acked = i;
      } catch {
        // outcome unknown: the next write goes on
      }
    }
    state.done = true;
  })();
  return { state, run };
}

describe('failover over the in-memory network', () => {
  it('a primary dies: its backups take over, the spare is filled, nothing acknowledged is lost', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const written = await fill(sim, c, 60);
    const victim = sim.byId(1);
    const key = sim.keyWithPrimary(1);
    const w = writer(c, key, 400);
    await sim.net.runUntil(() => w.state.acked >= 20);
    sim.kill(victim);
    const killedAt = sim.net.now;
    await sim.net.runUntil(() => w.state.acked >= 40);
    const resumedAfter = sim.net.now - killedAt;
    await sim.settle(w.run, 120_000);
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    const t = sim.leaderTable()!;
    expect(t.members.find((m) => m.id === 1)?.state).toBe('dead');
    expect(t.members.find((m) => m.id === 3)?.state).toBe('active');
    expect(t.partitions.some((a) => a.primary === 1 || a.backup === 1)).toBe(false);
    expect(t.partitions.filter((a) => a.backup === 3).length).toBeGreaterThan(0);
    expect(resumedAfter).toBeLessThan(TIMEOUT * 3);
    expect(w.state.acked).toBe(399);
    expect(await sim.settle(c.get(key))).toBe(399);
    await expectAll(sim, c, written);
    // The copy made the spare a full backup: its data equals each primary's.
    for (let p = 0; p < t.partitions.length; p++) {
      const a = t.partitions[p];
      expect([...sim.byId(a.backup!).node.place.replica(p)!.data]).toEqual([
        ...sim.byId(a.primary!).node.place.replica(p)!.data,
      ]);
    }
  });

  it('a backup dies: writes go on degraded, then the spare becomes the backup', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const key = sim.keyWithPrimary(0);
    const backupId = sim.backupOf(key).node.place.id!;
    const written = await fill(sim, c, 40);
    sim.kill(sim.byId(backupId));
    await sim.settle(c.put(key, 'after'));
    written.set(key, 'after');
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    await expectAll(sim, c, written);
  });

  it('the leader dies: the deputy takes over with a new term, picks a new deputy, and repairs', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client({ seeds: [sim.places[1].address, sim.places[2].address] });
    const written = await fill(sim, c, 40);
    const term = sim.leaderTable()!.term;
    sim.kill(sim.places[0]);
    await sim.net.runUntil(() => sim.leader()?.node.place.id === 1 && sim.repaired(), 30_000);
    const t = sim.leaderTable()!;
    expect(t.term).toBe(term + 1);
    expect(t.members.find((m) => m.id === 0)?.state).toBe('dead');
    // Place 2 votes: it stored the table before the leader acted on it.
    expect(sim.places[2].node.place.storedTable!.version).toBeGreaterThanOrEqual(t.version);
    await expectAll(sim, c, written);
    const s = sim.leader()!.node.place.status();
    expect([s.leader, s.deputy]).toEqual([1, 2]);
  });

  it('the deputy dies: the leader pushes the next table to a new deputy first', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const written = await fill(sim, c, 40);
    sim.kill(sim.byId(1));
    await sim.net.runUntil(() => sim.leaderTable()!.members[1].state === 'dead' && sim.repaired(), 30_000);
    const t = sim.leaderTable()!;
    expect(sim.leader()!.node.place.status().deputy).toBe(2);
    expect(sim.byId(2).node.place.storedTable!.version).toBeGreaterThanOrEqual(t.version);
    await expectAll(sim, c, written);
  });

  it("with no spare left, the survivors take the dead place's roles, zone-aware and balanced", async () => {
    const sim = await cluster(3, 0);
    const c = sim.client();
    const written = await fill(sim, c, 40);
    sim.kill(sim.byId(2));
    await sim.net.runUntil(() => sim.leaderTable()!.members[2].state === 'dead' && sim.repaired(), 30_000);
    const t = sim.leaderTable()!;
    for (const a of t.partitions) expect(new Set([a.primary, a.backup])).toEqual(new Set([0, 1]));
    await expectAll(sim, c, written);
  });

  it('two places cannot fail over: when one dies the other stops answering with "no quorum", never wrongly', async () => {
    const sim = await cluster(2, 0);
    const c = sim.client({ seeds: [sim.places[0].address], timeoutMs: 3000 });
    await fill(sim, c, 20);
    sim.kill(sim.byId(1));
    // Both places vote: the survivor alone is no majority, so it declares nobody dead and its lease lapses.
    const err = await sim.settle(c.put('k1', 'x')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/no quorum/);
    await sim.net.runFor(20_000);
    expect(sim.places[0].node.place.invalid).toBeNull();
    expect(sim.places[0].node.place.tableData!.members.every((m) => m.state !== 'dead')).toBe(true);
  });

  it('two of five voters die together holding both copies of partitions: the majority turns the store invalid', async () => {
    const sim = await cluster(5, 1, 1, 5);
    const c = sim.client();
    await fill(sim, c, 20);
    sim.kill(sim.byId(1));
    sim.kill(sim.byId(2));
    // Silent places holding last copies are declared dead only after lostAfterMs (3 s here).
    await sim.net.runUntil(() => sim.places[0].node.place.invalid !== null, 30_000);
    expect(sim.places[0].node.place.invalid).toMatch(/both copies of \d+ partitions? .* lost/);
    const err = await sim.settle(c.get('k1')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StoreInvalidError);
    expect((err as Error).message).toMatch(/invalid: both copies/);
    const s = sim.places[0].node.place.status();
    expect(s.valid).toBe(false);
    expect(s.partitions.some((p) => p.state === 'lost')).toBe(true);
    await sim.net.runUntil(() => sim.places[5].node.place.invalid !== null, 5000);
  });

  it('two of three voters die together: the rest are no majority, so they say "no quorum" and never "invalid"', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client({ seeds: [sim.places[3].address], timeoutMs: 3000 });
    await fill(sim, c, 20);
    sim.kill(sim.byId(1));
    sim.kill(sim.byId(2));
    // The survivor's lease runs out (half a failure timeout); then even its own partitions are refused.
    await sim.net.runFor(1000);
    const err = await sim.settle(c.get(sim.keyWithPrimary(0))).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/no quorum/);
    await sim.net.runFor(20_000);
    expect(sim.places[0].node.place.invalid).toBeNull();
    expect(sim.places[3].node.place.invalid).toBeNull();
  });

  it('leader and deputy die together among five voters: the third voter takes over, and the store turns invalid only for lost copies', async () => {
    const sim = await cluster(5, 1, 1, 5);
    const c = sim.client({ seeds: [sim.places[2].address] });
    await fill(sim, c, 10);
    const term = sim.leaderTable()!.term;
    sim.kill(sim.places[0]);
    sim.kill(sim.places[1]);
    await sim.net.runUntil(() => sim.places[2].node.place.invalid !== null, 30_000);
    const t = sim.places[2].node.place.tableData!;
    expect(t.term).toBeGreaterThan(term);
    expect(t.members.filter((m) => m.state === 'dead').map((m) => m.id)).toEqual([0, 1]);
    expect(sim.places[2].node.place.invalid).toMatch(/both copies of .* lost when place\(s\) 0, 1 died/);
    const err = await sim.settle(c.put('k1', 'x')).catch((e) => e);
    expect(err).toBeInstanceOf(StoreInvalidError);
  });

  it('a primary paused past the timeout and resumed serves no stale read and completes no write', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const key = sim.keyWithPrimary(1);
    await sim.settle(c.put(key, 'old'));
    const oldTable = sim.leaderTable()!;
    const paused = sim.byId(1);
    sim.pause(paused);
    // The rest of the cluster moves on: the backup takes over and takes a new write.
    await sim.net.runUntil(() => sim.leaderTable()!.members[1].state === 'dead', 30_000);
    const fresh = sim.client();
    await sim.settle(fresh.put(key, 'new'), 30_000);
    // A client that still routes by the old table talks to the paused place once it wakes up.
    const stale = sim.client();
    await sim.settle(stale.ready());
    stale.routeBy(oldTable);
    sim.resume(paused);
    const read = await sim.settle(stale.get(key), 30_000);
    expect(read).toBe('new');
    const staleWrite = stale.put(key, 'from-stale-route');
    await sim.settle(staleWrite, 30_000);
    expect(await sim.settle(c.get(key))).toBe('from-stale-route');
    // The paused place was declared dead; it comes back as a fresh spare, holding nothing.
    await sim.net.runUntil(() => paused.node.place.id !== null && paused.node.place.id !== 1, 30_000);
    expect(
      Array.from({ length: 16 }, (_, p) => paused.node.place.replica(p)!).every(
        (r) => r.role === 'none' && r.data.size === 0,
      ),
    ).toBe(true);
    expect(
      sim
        .leaderTable()!
        .members.filter((m) => m.address === paused.address)
        .map((m) => m.state),
    ).toEqual(['dead', 'spare']);
  });

  it('a paused primary refuses reads once its lease is gone, before anyone replaced it', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const key = sim.keyWithPrimary(1);
    await sim.settle(c.put(key, 'v'));
    const primary = sim.byId(1);
    // Cut the place off from the leader only: it keeps its clients but gets no lease renewals.
    const leaderName = sim.places[0].address;
    sim.net.drop = (from, to) =>
      (from === primary.address && to === leaderName) || (from === leaderName && to === primary.address);
    const direct = sim.net.transport('direct');
    const replies: unknown[] = [];
    direct.onMessage((_l, m) => replies.push(m));
    await sim.net.runFor(TIMEOUT / 2 + 50);
    direct.linkTo(primary.address).send({ t: 'op', id: 1, c: 'direct', tv: 0, o: 'get', k: key });
    await sim.net.runUntil(() => replies.length > 0);
    expect(replies[0]).toMatchObject({ t: 'err', code: 'unavailable' });
    expect(String((replies[0] as { msg: string }).msg)).toMatch(/no lease/);
  });

  it('replication from a dead primary that reaches the backup late is refused', async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    const key = sim.keyWithPrimary(1);
    await sim.settle(c.put(key, 'acked'));
    const backup = sim.backupOf(key);
    const held: unknown[] = [];
    sim.net.drop = (from, to, msg) => {
      if (from === sim.byId(1).address && to === backup.address && msg.t === 'replBatch') {
        held.push(msg);
        return true;
      }
      return false;
    };
    const lost = c.put(key, 'never-acked');
    lost.catch(() => {});
    await sim.net.runUntil(() => held.length === 1);
    sim.kill(sim.byId(1));
    sim.net.drop = () => false;
    await sim.net.runUntil(() => sim.primaryOf(key) === backup && sim.repaired(), 30_000);
    // The old primary's entry arrives now, at the promoted place.
    const replies: { t: string }[] = [];
    const ghost = sim.net.transport(sim.byId(1).address, 'place');
    ghost.onMessage((_l, m) => replies.push(m));
    ghost.linkTo(backup.address).send(held[0] as never);
    await sim.net.runUntil(() => replies.length > 0);
    expect(replies[0].t).toBe('replReject');
    expect(await sim.settle(c.get(key))).not.toBe('never-acked');
  });

  it("a failure during another failure's copy is detected: the store turns invalid, it does not answer wrongly", async () => {
    const sim = await cluster(3, 1);
    const c = sim.client();
    await fill(sim, c, 40);
    const spare = sim.places[3];
    // Hold the copies to the spare so the repair cannot finish.
    sim.net.drop = (_f, to, msg) => to === spare.address && msg.t === 'snap';
    sim.kill(sim.byId(1));
    await sim.net.runUntil(() => sim.leaderTable()!.partitions.some((a) => a.state === 'migrating'), 30_000);
    sim.kill(sim.byId(2));
    await sim.net.runUntil(() => sim.places[0].node.place.invalid !== null, 30_000);
    expect(sim.places[0].node.place.invalid).toMatch(/lost/);
    const err = await sim.settle(c.get('k0')).catch((e) => e);
    expect(err).toBeInstanceOf(StoreInvalidError);
  });
});

describe('a client whose only seed is the primary that stops', () => {
  it('sees the failover within moments, whatever state its table refreshing is in (found in review)', async () => {
    for (let shift = 0; shift < 6; shift++) {
      const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
      await sim.start(3);
      await sim.net.runFor(500);
      const c = sim.client({ seeds: [sim.places[0]!.address], timeoutMs: 5000 });
      const key = sim.keyWithPrimary(0);
      await sim.settle(c.put(key, 'a'));
      // Each shift leaves the client's round of places to ask for tables at another point.
      const refresh = c as unknown as { fetchTable(force: boolean): void };
      for (let i = 0; i < shift; i++) {
        refresh.fetchTable(true);
        await sim.net.runFor(60);
      }
      const pausedAt = sim.net.now;
      sim.pause(sim.places[0]!);
      await sim.settle(c.put(key, 'b'), 10_000);
      expect(sim.net.now - pausedAt, `shift ${shift}`).toBeLessThan(2500);
    }
  });
});
