import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { PartitionTable } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

/** Drops the first reply to the client and breaks its connection to the key's primary, so the client retries. */
function loseFirstReply(
  sim: SimCluster,
  client: ReturnType<SimCluster['client']>,
  key: string,
): () => number {
  const transport = sim.transportOf(client);
  const primary = sim.primaryOf(key).address;
  let lost = 0;
  sim.net.drop = (_from, to, msg) => {
    if (lost > 0 || to !== transport.name || msg.t !== 'res') return false;
    lost++;
    sim.net.scheduler.soon(() => transport.linkTo(primary).close());
    return true;
  };
  return () => lost;
}

describe('exactly-once retries', () => {
  it('a cas whose reply was lost returns its first result on retry instead of running again', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2 });
    await sim.start(2);
    const c = sim.client();
    await sim.settle(c.ready());
    const lost = loseFirstReply(sim, c, 'lock');
    // Run a second time, this cas would fail (the key is no longer absent).
    expect(await sim.settle(c.compareAndSwap('lock', undefined, 'owner-1'))).toBe(true);
    expect(lost()).toBe(1);
    expect(await sim.settle(c.get('lock'))).toBe('owner-1');
  });

  it('a retried increment is applied once and returns the first result', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2 });
    await sim.start(2);
    const c = sim.client();
    await sim.settle(c.put('n', 10));
    const lost = loseFirstReply(sim, c, 'n');
    expect(await sim.settle(c.submitToKey('n', 'increment', 1))).toBe(11);
    expect(lost()).toBe(1);
    expect(await sim.settle(c.get('n'))).toBe(11);
  });

  it('a put retried after a later write does not overwrite it', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2 });
    await sim.start(2);
    const a = sim.client();
    const b = sim.client();
    await sim.settle(Promise.all([a.ready(), b.ready()]));
    const primary = sim.primaryOf('k');
    const aName = sim.transportOf(a).name;
    // a's put is applied but its reply is held back; b writes after it; then a's link breaks and a retries.
    let held = false;
    sim.net.drop = (_f, to, msg) => {
      if (held || to !== aName || msg.t !== 'res') return false;
      held = true;
      return true;
    };
    const first = a.put('k', 'from-a');
    await sim.net.runUntil(() => held);
    await sim.settle(b.put('k', 'from-b'));
    sim.transportOf(a).linkTo(primary.address).close();
    await sim.settle(first);
    expect(await sim.settle(b.get('k'))).toBe('from-b');
  });

  it("one request waiting on a partition pins no other partition's outcomes (lo is per partition)", async () => {
    const sim = new SimCluster({ partitionCount: 2, minPlaces: 2 });
    await sim.start(2);
    await sim.net.runFor(300);
    const c = sim.client();
    const routing = new PartitionTable(sim.leaderTable()!);
    const keyIn = (p: number) => {
      for (let i = 0; ; i++) if (routing.partitionOf(`k${i}`) === p) return `k${i}`;
    };
    const [stuckKey, busyKey] = [keyIn(0), keyIn(1)];
    // Every answer to the write on partition 0 is lost: it stays pending (the client retries it).
    sim.net.drop = (_from, _to, msg) => msg.t === 'res' && msg.id === 1;
    const stuck = c.put(stuckKey, 'waits');
    stuck.catch(() => {});
    for (let round = 0; round < 30; round++) {
      await sim.settle(
        Promise.all(Array.from({ length: 10 }, (_, i) => c.put(`${busyKey}`, round * 10 + i))),
      );
    }
    const busy = sim.primaryOf(busyKey).node.place.replica(1)!;
    // Without lo per partition the 300 outcomes stay, pinned by request 1 on the other partition.
    expect(busy.rememberedCount).toBeLessThanOrEqual(10);
    expect(busy.rememberedCount).toBeGreaterThan(0);
  });

  it('the backup remembers results too, so a promoted backup can answer retries', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    const c = sim.client();
    await sim.settle(c.compareAndSwap('k', undefined, 'v'));
    const backup = sim.backupOf('k').node.place.replica(0)!;
    const remembered = [...Array(3).keys()].map((i) => backup.remembered(c.clientId, i)).filter(Boolean);
    expect(remembered).toHaveLength(1);
    expect(remembered[0]!.outcome).toEqual({ ok: true });
  });

  it('outcomes a client will never ask for again are forgotten, on the primary and the backup', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    const c = sim.client();
    // 500 writes, 10 at a time: each request tells the places which ids the client no longer retries.
    for (let round = 0; round < 50; round++) {
      await sim.settle(Promise.all(Array.from({ length: 10 }, (_, i) => c.put(`k${i}`, round))));
    }
    const primary = sim.primaryOf('k0').node.place.replica(0)!;
    const backup = sim.backupOf('k0').node.place.replica(0)!;
    expect(primary.rememberedCount).toBeLessThanOrEqual(10);
    expect(backup.rememberedCount).toBeLessThanOrEqual(10);
    expect(primary.rememberedCount).toBeGreaterThan(0);
    expect(await sim.settle(c.get('k3'))).toBe(49);
  });

  it('a failed cas retried while its first attempt waits gets the same answer, not a new evaluation', async () => {
    // Found by simulator seed 2192: the retry was evaluated afresh after the key was deleted and
    // swapped, while the first attempt's "compare failed" reached the client first.
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    await sim.net.runFor(500);
    const table = sim.leaderTable()!;
    const primary = sim.places[table.partitions[0].primary!];
    const backupName = sim.places[table.partitions[0].backup!].address;
    const packr = new Packr({ useRecords: false });
    let holdAcks = true;
    sim.net.drop = (from, _to, msg) => holdAcks && from === backupName && msg.t === 'replAcks';
    const raw = sim.net.transport('raw-client');
    const replies: WireMessage[] = [];
    raw.onMessage((_l, m) => replies.push(m));
    const link = raw.linkTo(primary.address);
    const op = (id: number, o: string, extra: object) =>
      link.send({ t: 'op', id, c: 'raw', tv: table.version, o, k: 'k', ...extra });
    op(1, 'put', { v: packr.pack('v1') }); // waits for the backup's ack
    op(2, 'cas', { x: null, v: packr.pack('mine') }); // k is taken: fails, and waits behind the put
    op(3, 'del', {}); // k becomes absent
    op(2, 'cas', { x: null, v: packr.pack('mine') }); // the retry: evaluated afresh, it would swap
    await sim.net.runFor(50);
    expect(replies).toEqual([]);
    holdAcks = false;
    await sim.net.runUntil(() => replies.filter((r) => r.id === 2).length === 2, 10_000);
    expect(replies.filter((r) => r.id === 2).map((r) => r.ok)).toEqual([false, false]);
    const c = sim.client();
    expect(await sim.settle(c.get('k'))).toBeUndefined();
  });
});
