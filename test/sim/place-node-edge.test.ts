import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../src/protocol/invariant.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../../src/protocol/PlaceConfig.js';
import { processorRegistry } from '../../src/protocol/requests/processors.js';
import { PlaceNode } from '../../src/runtime/PlaceNode.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import { MemoryNetwork } from '../../src/transport/MemoryNetwork.js';
import type { WireMessage } from '../../src/transport/Transport.js';

/** A raw connection to address, as the place there (a member): what it sends, and the answers it gets. */
function rawLink(net: MemoryNetwork, address: string) {
  const t = net.transport(address, 'place');
  const replies: WireMessage[] = [];
  t.onMessage((_l, m) => replies.push(m));
  return { link: t.linkTo(address), replies };
}

describe('the edge between the wire and the protocol', () => {
  it('answers a malformed place message with an error naming the field; the place goes on', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2 });
    await sim.start(2);
    const before = sim.places[0]!.node.place.tableData;
    const { link, replies } = rawLink(sim.net, sim.places[0]!.address);
    link.send({
      t: 'tableUpdate',
      tv: 99,
      table: { version: 99, term: 9, members: 'everyone', partitions: [] },
    });
    link.send({ t: 'hb', tv: 1, term: 1, id: 'x', ts: 1, no: 1 });
    await sim.net.runUntil(() => replies.length >= 2);
    expect(replies[0]).toMatchObject({ t: 'err', code: 'bad_request' });
    expect(String(replies[0]!.msg)).toMatch(/'tableUpdate' message: 'table' must be a partition table/);
    expect(String(replies[1]!.msg)).toMatch(/'hb' message: 'id' must be a place id/);
    // Nothing of it reached the protocol: same table, and the store still works.
    expect(sim.places[0]!.node.place.tableData).toBe(before);
    const c = sim.client();
    await sim.settle(c.put('k', 'v'));
    expect(await sim.settle(c.get('k'))).toBe('v');
  });

  it('never answers an error with an error', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 2 });
    await sim.start(2);
    const { link, replies } = rawLink(sim.net, sim.places[0]!.address);
    link.send({ t: 'err', code: 'no-such-code', msg: 42 });
    link.send({ t: 'tableGet', tv: 0 });
    await sim.net.runUntil(() => replies.length >= 1);
    await sim.net.runFor(100);
    // Only the table request was answered.
    expect(replies.map((r) => r.t)).toEqual(['table']);
  });

  it('a broken invariant stops the place: it reports the error and answers nothing more', async () => {
    const net = new MemoryNetwork(1);
    const fatal: unknown[] = [];
    const nodes = ['a:1', 'b:1'].map((address, i) => {
      const config: PlaceConfig = {
        ...DEFAULT_TUNING,
        address,
        zone: null,
        spare: false,
        pid: i + 1,
        seeds: i === 0 ? [] : ['a:1'],
        partitionCount: 4,
        minPlaces: 2,
        limits: DEFAULT_LIMITS,
        processors: processorRegistry(),
      };
      return new PlaceNode(config, net.transport(address, 'place'), net.schedulerFor(address), {
        onFatal: (err) => fatal.push(err),
      });
    });
    for (const n of nodes) await n.start();
    const b = nodes[1]!;
    await net.runUntil(() => b.place.tableData?.formed === true && b.place.id === 1);
    const table = b.place.tableData!;
    const p = table.partitions.findIndex((a) => a.backup === 1);
    const epoch = table.partitions[p]!.epoch;
    // Well-formed, but only a bug could make it: place 1 promoted at an epoch older than its own.
    const partitions = table.partitions.map((a, i) =>
      i === p ? { primary: 1, backup: 0, target: null, epoch: epoch - 1, state: 'ok' as const } : a,
    );
    const { link, replies } = rawLink(net, 'b:1');
    link.send({ t: 'tableUpdate', tv: 1, table: { ...table, version: table.version + 1, partitions } });
    await net.runUntil(() => fatal.length > 0);
    expect(fatal[0]).toBeInstanceOf(InvariantError);
    expect(String(fatal[0])).toMatch(/epoch would go back/);
    link.send({ t: 'tableGet', tv: 0 });
    await net.runFor(200);
    expect(replies).toEqual([]);
    for (const n of nodes) await n.stop();
  });
});
