import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

describe('a client refreshing its table', () => {
  it('gets the whole table only when the place has a newer one', async () => {
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 2 });
    await sim.start(2);
    const table = sim.leaderTable()!;
    const t = sim.net.transport('refresher');
    const replies: WireMessage[] = [];
    t.onMessage((_l, m) => replies.push(m));
    const link = t.linkTo(sim.places[1]!.address);
    link.send({ t: 'tableGet', tv: table.version, term: table.term });
    link.send({ t: 'tableGet', tv: table.version - 1, term: table.term });
    link.send({ t: 'tableGet', tv: table.version });
    await sim.net.runUntil(() => replies.length >= 3);
    expect(replies.map((r) => r.t)).toEqual(['tableSame', 'table', 'table']);
    expect((replies[1]!.table as { version: number }).version).toBe(table.version);
  });
});
