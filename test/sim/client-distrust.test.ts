import { describe, expect, it } from 'vitest';
import { PlacestoreError } from '../../src/client/errors.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

/** A "place" that answers every request with what answer() makes of it. */
async function impostor(sim: SimCluster, answer: (msg: WireMessage) => WireMessage[]): Promise<string> {
  const address = `impostor-${Math.random()}:7400`;
  const t = sim.net.transport(address, 'place');
  t.onMessage((link, msg) => {
    for (const reply of answer(msg)) link.send(reply);
  });
  await t.listen(address);
  return address;
}

const member = (id: number) => ({ id, address: `x${id}:1`, zone: null, pid: id, state: 'active' });
const table = (over: Record<string, unknown>) => ({
  version: 5,
  term: 1,
  formed: true,
  minPlaces: 1,
  voters: 1,
  valid: true,
  invalidReason: null,
  members: [member(0)],
  partitions: [{ primary: 0, backup: null, target: null, epoch: 1, state: 'degraded' }],
  ...over,
});

/** Tables a place could send that hold no routing: each was a TypeError inside the client. */
const BAD_TABLES = [
  table({ partitions: [] }),
  table({ partitions: [{ primary: 9, backup: null, target: null, epoch: 1, state: 'ok' }] }),
  table({ members: [member(0), member(0)] }),
  table({ members: 'everyone' }),
  { version: 'new' },
  null,
];

describe('a client talking to places that send it nonsense', () => {
  it.each(BAD_TABLES.map((t, i) => [i, t]))(
    'ignores malformed table %i and fails the request with a clear error, never a TypeError',
    async (_, bad) => {
      const sim = new SimCluster({ partitionCount: 1, minPlaces: 1 });
      const seed = await impostor(sim, (msg) =>
        msg.t === 'tableGet'
          ? [{ t: 'table', tv: 5, table: bad } as WireMessage]
          : [{ t: 'err', id: msg.id, code: 'redirect', msg: 'elsewhere', table: bad } as WireMessage],
      );
      const c = sim.client({ seeds: [seed], timeoutMs: 1000 });
      const err = await sim.settle(c.put('k', 'v'), 5000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlacestoreError);
      expect(err).not.toBeInstanceOf(TypeError);
      expect((err as Error).message).toMatch(/1000 ms/);
    },
  );

  it('an error reply without code or text still reaches the caller as a RequestError with text', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 1 });
    const good = table({ members: [{ ...member(0), address: '' }] });
    let seed = '';
    seed = await impostor(sim, (msg) => {
      if (msg.t === 'tableGet') {
        const t = { ...good, members: [{ ...member(0), address: seed }] };
        return [{ t: 'table', tv: 5, table: t } as WireMessage];
      }
      return [{ t: 'err', id: msg.id, code: 42, msg: { no: 'text' } } as WireMessage];
    });
    const c = sim.client({ seeds: [seed], timeoutMs: 1000 });
    const err = await sim.settle(c.put('k', 'v'), 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlacestoreError);
    expect((err as Error).message).toMatch(/an error reply without a message \(bad_reply\)/);
  });

  it('a malformed status is a RequestError, not a TypeError', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 1 });
    let seed = '';
    seed = await impostor(sim, (msg) => {
      if (msg.t === 'tableGet') {
        const t = table({ members: [{ ...member(0), address: seed }] });
        return [{ t: 'table', tv: 5, table: t } as WireMessage];
      }
      return [{ t: 'statusReply', id: msg.id, status: { valid: true, places: 'all' } } as WireMessage];
    });
    const c = sim.client({ seeds: [seed], timeoutMs: 1000 });
    const err = await sim.settle(c.status(), 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlacestoreError);
    expect((err as Error).message).toMatch(/the status a place sent is malformed/);
  });
});
