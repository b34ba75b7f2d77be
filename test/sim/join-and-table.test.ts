import { describe, expect, it } from 'vitest';
import { PartitionTable } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

describe('joining and the partition table', () => {
  it('assigns growing ids, forms the table once minPlaces have joined, and makes later joiners spares', async () => {
    const sim = new SimCluster({ partitionCount: 12, minPlaces: 3 });
    await sim.addPlace();
    await sim.addPlace();
    await sim.net.runUntil(() => sim.places[1].node.place.id !== null);
    expect(sim.leaderTable()!.formed).toBe(false);
    const c = sim.client({ timeoutMs: 300 });
    await expect(sim.settle(c.put('k', 1))).rejects.toThrow(/forming: 2 of 3 places/);
    await sim.addPlace();
    await sim.addPlace({ spare: true });
    await sim.addPlace();
    await sim.net.runUntil(() => sim.places.every((p) => p.node.place.id !== null));
    expect(sim.places.map((p) => p.node.place.id)).toEqual([0, 1, 2, 3, 4]);
    const table = sim.leaderTable()!;
    expect(table.formed).toBe(true);
    expect(table.members.map((m) => m.state)).toEqual(['active', 'active', 'active', 'spare', 'spare']);
    for (const p of table.partitions) {
      expect([0, 1, 2]).toContain(p.primary);
      expect([0, 1, 2]).toContain(p.backup);
    }
  });

  it('joins through any listed address, skipping dead ones and following a redirect to the leader', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 2 });
    await sim.start(2);
    const late = await sim.addPlace({ seeds: ['nowhere:1', sim.places[1].address], spare: true });
    await sim.net.runUntil(() => late.node.place.id !== null);
    expect(late.node.place.id).toBe(2);
    expect(sim.leaderTable()!.members.find((m) => m.id === 2)?.state).toBe('spare');
  });

  it('the leader acts on a new table only once a majority of voters stored it', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 2 });
    await sim.start(2);
    const before = sim.leaderTable()!.version;
    let holdAcks = true;
    let dropped = 0;
    sim.net.drop = (_from, _to, msg) => {
      if (msg.t !== 'tableAck' || !holdAcks) return false;
      dropped++;
      return true;
    };
    const spare = await sim.addPlace({ spare: true });
    // Two voters before the join, three after: the new table needs both of the old ones.
    await sim.net.runUntil(() => dropped >= 2);
    expect(sim.places[1].node.place.storedTable!.version).toBe(before + 1);
    expect(sim.places[1].node.place.tableData!.version).toBe(before);
    expect(sim.leaderTable()!.version).toBe(before);
    expect(spare.node.place.id).toBeNull();
    holdAcks = false;
    await sim.net.runUntil(() => spare.node.place.id !== null);
    expect(sim.leaderTable()!.version).toBe(before + 1);
    // Told of the commit, the voter makes the table it stored current.
    await sim.net.runUntil(() => sim.places[1].node.place.tableData!.version === before + 1);
  });

  it('places whose roles did not change, and that do not vote, learn a new table lazily, from the messages they get', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 4 });
    await sim.start(4);
    const formed = sim.leaderTable()!.version;
    await sim.addPlace({ spare: true });
    await sim.net.runUntil(() => sim.places[4].node.place.id !== null);
    // Places 0, 1 and 2 vote; place 3 does not.
    const fourth = sim.places[3].node.place;
    expect(sim.leaderTable()!.version).toBe(formed + 1);
    expect(fourth.tableData!.version).toBe(formed);
    // A client that learned the newer table talks to the fourth place: it fetches the table it lacks.
    const c = sim.client();
    const p = sim.leaderTable()!.partitions.findIndex((x) => x.primary === 3);
    const routing = new PartitionTable(sim.leaderTable()!);
    let key = '';
    for (let i = 0; key === '' && i < 10_000; i++) if (routing.partitionOf(`k${i}`) === p) key = `k${i}`;
    await sim.settle(c.put(key, 'v'));
    expect(fourth.tableData!.version).toBe(formed + 1);
  });

  it('a client with a stale table is redirected, adopts the newer table and succeeds', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3);
    const c = sim.client();
    await sim.settle(c.ready());
    const real = sim.leaderTable()!;
    // A stale table that names the wrong primary for every partition.
    const stale = {
      ...real,
      version: 1,
      partitions: real.partitions.map((p) => ({ ...p, primary: p.backup, backup: p.primary })),
    };
    c.routeBy(stale);
    const seen: string[] = [];
    const original = sim.net.drop;
    sim.net.drop = (from, to, msg: WireMessage) => {
      if (msg.t === 'err') seen.push(String(msg.code));
      return original(from, to, msg);
    };
    await sim.settle(c.put('key', 'value'));
    expect(await sim.settle(c.get('key'))).toBe('value');
    expect(seen).toContain('redirect');
    expect(c.tableVersion).toBe(real.version);
  });
});
