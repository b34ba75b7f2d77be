import { describe, expect, it } from 'vitest';
import { PartitionTable, type TableData } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

describe('one table that completes some writes and moves another partition away', () => {
  it('answers the completed writes as successes, not as redirects (found in review)', async () => {
    const sim = new SimCluster({ partitionCount: 8, minPlaces: 3 });
    await sim.start(3);
    await sim.net.runFor(300);
    const table = sim.leaderTable()!;
    const view = new PartitionTable(table);
    const a = sim.places[0]!;
    const p1 = table.partitions.findIndex((x) => x.primary === 0);
    const p2 = table.partitions.findIndex((x, i) => x.primary === 0 && i !== p1);
    const backup1 = sim.byId(table.partitions[p1]!.backup!);
    expect(p1).toBeGreaterThanOrEqual(0);
    expect(p2).toBeGreaterThanOrEqual(0);
    // A write on p1 waits at place 0: its backup's acknowledgements are held back.
    sim.net.drop = (from, _to, msg) => from === backup1.address && msg.t === 'replAcks';
    let key = '';
    for (let i = 0; key === ''; i++) if (view.partitionOf(`k${i}`) === p1) key = `k${i}`;
    const raw = sim.net.transport('raw');
    const replies: WireMessage[] = [];
    raw.onMessage((_l, m) => replies.push(m));
    const x = Buffer.from([0xa1, 0x78]); // "x" in MessagePack
    raw.linkTo(a.address).send({ t: 'op', id: 1, c: 'raw', tv: table.version, o: 'put', k: key, v: x });
    await sim.net.runUntil(() => a.node.place.replica(p1)!.pendingCount === 1);
    // The next table: p1 keeps only its primary (so the write completes), and p2 moves to its backup.
    const next: TableData = {
      ...table,
      version: table.version + 1,
      partitions: table.partitions.map((pa, i) =>
        i === p1
          ? { ...pa, backup: null, state: 'degraded' as const }
          : i === p2
            ? { primary: pa.backup, backup: 0, target: null, epoch: pa.epoch + 1, state: 'ok' as const }
            : pa,
      ),
    };
    sim.net
      .transport(sim.leader()!.address, 'place')
      .linkTo(a.address)
      .send({ t: 'tableUpdate', tv: next.version, table: next });
    await sim.net.runUntil(() => replies.length > 0);
    expect(replies[0]).toMatchObject({ t: 'res', id: 1 });
  });
});
