import { describe, expect, it } from 'vitest';
import type { TableData } from '../../src/protocol/table/PartitionTable.js';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a leader shown its own pending table by a peer', () => {
  it('commits it through a majority of voters and still tells the places the change concerns', async () => {
    // Found by catastrophe seeds 14 and 31 once commits asserted that versions grow: a copy's first
    // piece made the leader fetch the table of the place sending it, which already held the leader's
    // pending table; the leader adopted it from that answer, and the commit that followed told nobody.
    const sim = new SimCluster({ partitionCount: 16, minPlaces: 3 });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const [leader, deputy, victim, spare] = [0, 1, 2, 3].map((i) => sim.places[i]!);
    const before = sim.leaderTable()!.version;

    const seen: { pushed?: TableData } = {};
    let held = true;
    const updatesToSpare: number[] = [];
    sim.net.onDeliver = (from, to, msg) => {
      if (from === leader.address && to === spare.address && msg.t === 'tableUpdate')
        updatesToSpare.push((msg.table as TableData).version);
      if (from === leader.address && to === deputy.address && msg.t === 'tablePush')
        seen.pushed ??= msg.table as TableData;
    };
    // Every voter's acknowledgement is held, so the leader's table stays pending.
    sim.net.drop = (_from, _to, msg) => held && msg.t === 'tableAck';
    sim.kill(victim);
    await sim.net.runUntil(() => deputy!.node.place.storedTable?.version === seen.pushed?.version);
    const shown = seen.pushed!;
    expect(shown.members.find((m) => m.id === 2)?.state).toBe('dead');
    expect(shown.version).toBeGreaterThan(before);

    // The table the deputy stored, shown to the leader before the voters' acks arrive.
    const peer = sim.net.transport(deputy!.address, 'place');
    peer.linkTo(leader.address).send({
      t: 'table',
      tv: shown.version,
      id: deputy!.node.place.id,
      table: deputy!.node.place.storedTable,
    });
    await sim.net.runFor(50);
    held = false;
    // The spare was given copies in that table: the leader tells it, as every commit does.
    expect(shown.partitions.some((a) => a.target === spare!.node.place.id)).toBe(true);
    await sim.net.runUntil(() => updatesToSpare.includes(shown.version), 5_000);
    expect(leader!.node.place.tableData!.version).toBeGreaterThanOrEqual(shown.version);
  });
});
