import { describe, expect, it } from 'vitest';
import { Place } from '../../src/protocol/Place.js';
import { PartitionTable } from '../../src/protocol/table/PartitionTable.js';
import type { PlaceOutMessage } from '../../src/protocol/wire/messages.js';
import { config, table } from '../support/placeFixture.js';

describe('messages held for a newer table', () => {
  it('are bounded in bytes: past the bound the next is refused at once, "catching up"', () => {
    const place = new Place(config({ maxDeferredBytes: 2000 }), { now: () => 10_000 });
    place.start();
    place.step('p0', { t: 'tableUpdate', tv: 5, table: table(5) });
    // A key of partition 0, which place 2 does not lead: a client with a newer table is held.
    const routing = new PartitionTable(table(5));
    let key = '';
    for (let i = 0; key === ''; i++) if (routing.partitionOf(`k${i}`) === 0) key = `k${i}`;
    const op = (id: number) =>
      ({ t: 'op', id, c: 'c', tv: 9, o: 'put', k: key, v: Buffer.alloc(900) }) as const;
    const sent: [unknown, PlaceOutMessage][] = [];
    const sink = {
      sendTo: () => {},
      reply: (to: unknown, m: PlaceOutMessage) => sent.push([to, m]),
      disconnect: () => {},
    };
    place.step('client', op(1));
    place.step('client', op(2));
    place.drain(sink);
    expect(sent.filter(([, m]) => m.t === 'err')).toEqual([]);
    place.step('client', op(3));
    place.drain(sink);
    const refused = sent.filter(([, m]) => m.t === 'err').map(([, m]) => m);
    expect(refused).toEqual([
      expect.objectContaining({ id: 3, code: 'unavailable', msg: expect.stringMatching(/catching up/) }),
    ]);
  });
});
