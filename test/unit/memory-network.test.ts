import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/transport/MemoryNetwork.js';
import type { WireMessage } from '../../src/transport/Transport.js';

describe('the in-memory network', () => {
  it('keeps the order of a connection when its receiver is busy and then stopped (found in review)', async () => {
    const net = new MemoryNetwork(1);
    const a = net.transport('a');
    const b = net.transport('b');
    await b.listen('b');
    const got: number[] = [];
    b.onMessage((_l, m) => got.push(m.n as number));
    const link = a.linkTo('b');
    net.occupy('b', 10); // b is busy until t=10: the first message waits for it
    link.send({ t: 'x', n: 1 });
    net.scheduler.after(1, () => net.pause('b'));
    net.scheduler.after(2, () => link.send({ t: 'x', n: 2 })); // arrives while b is stopped
    net.scheduler.after(20, () => net.resume('b'));
    await net.runFor(50);
    expect(got).toEqual([1, 2]);
  });

  it('a busy process runs its timers first once free, then what waited, data in the order sent', async () => {
    const net = new MemoryNetwork(1);
    const a = net.transport('a');
    const b = net.transport('b');
    await b.listen('b');
    const events: string[] = [];
    b.onMessage((_l, m) => events.push(`${m.t}${m.n}`));
    net.schedulerFor('b').after(5, () => events.push('timer'));
    const data = a.linkTo('b');
    const control = a.linkTo('b', 'control');
    net.occupy('b', 10);
    data.send({ t: 'd', n: 1 });
    data.send({ t: 'd', n: 2 });
    control.send({ t: 'c', n: 1 });
    await net.runFor(50);
    expect(events).toEqual(['timer', 'c1', 'd1', 'd2']);
  });
});

describe('a stopped process that resumes', () => {
  it('gets what was held before what arrives at the very moment it resumes (found in review)', async () => {
    const net = new MemoryNetwork(1);
    net.latency = { minMs: 1, maxMs: 1 };
    const a = net.transport('a');
    const b = net.transport('b');
    await b.listen('b');
    const got: number[] = [];
    b.onMessage((_l, m) => got.push(m.n as number));
    const link = a.linkTo('b');
    net.pause('b');
    net.scheduler.after(10, () => net.resume('b'));
    net.scheduler.after(5, () => link.send({ t: 'x', n: 1 })); // arrives at 6: held
    net.scheduler.after(9, () => link.send({ t: 'x', n: 2 })); // arrives at 10, as b resumes
    await net.runFor(50);
    expect(got).toEqual([1, 2]);
  });

  it('has the frame limit TCP has: a larger message throws at send, in either copy mode, and a close is orderly', async () => {
    for (const copy of ['wire', 'shared'] as const) {
      const net = new MemoryNetwork(1);
      net.copy = copy;
      net.maxFrameBytes = 1024;
      const a = net.transport('a');
      const b = net.transport('b');
      await b.listen('b');
      const got: unknown[] = [];
      b.onMessage((_l, m) => got.push(m.t));
      const link = a.linkTo('b');
      expect(() => link.send({ t: 'op', v: Buffer.alloc(2000) })).toThrow(
        /message 'op' encodes to \d+ bytes, more than the limit of 1024 bytes/,
      );
      link.send({ t: 'op', v: Buffer.alloc(100) });
      link.close();
      await net.runFor(50);
      // What was sent before the close arrives; the larger message never left.
      expect(got).toEqual(['op']);
    }
  });

  it("in frozen mode a message cannot be changed once sent, by its sender or its receiver; a client's is a copy", async () => {
    const net = new MemoryNetwork(1);
    net.copy = 'frozen';
    const place = net.transport('p', 'place');
    const client = net.transport('c');
    const other = net.transport('q', 'place');
    await other.listen('q');
    await place.listen('p');
    const got: WireMessage[] = [];
    other.onMessage((_l, m) => got.push(m));
    let receiverError: unknown = null;
    place.onMessage((_l, m) => {
      try {
        (m as unknown as { tv: number }).tv = 99;
      } catch (err) {
        receiverError = err;
      }
    });
    const sent: WireMessage = { t: 'hb', term: 1 };
    place.linkTo('q').send(sent);
    expect(() => {
      (sent as unknown as { term: number }).term = 2;
    }).toThrow(TypeError);
    const request: WireMessage = { t: 'op', tv: 1 };
    client.linkTo('p').send(request);
    // The client reuses its request object (a retry): what is on its way is not changed by that.
    (request as unknown as { tv: number }).tv = 2;
    await net.runFor(50);
    expect(got).toEqual([{ t: 'hb', term: 1 }]);
    expect(got[0]).toBe(sent);
    expect(receiverError).toBeInstanceOf(TypeError);
  });
});
