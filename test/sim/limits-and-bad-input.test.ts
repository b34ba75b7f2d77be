import { describe, expect, it } from 'vitest';
import { RequestError } from '../../src/client/errors.js';
import { StoreClient } from '../../src/client/StoreClient.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { WireMessage } from '../../src/transport/Transport.js';

async function cluster() {
  const sim = new SimCluster({
    partitionCount: 4,
    minPlaces: 2,
    limits: { maxKeyBytes: 16, maxValueBytes: 64 },
    processors: {
      explode: () => {
        throw new Error('boom');
      },
      grow: (current: unknown) => ({ value: 'y'.repeat(100), result: current }),
      tell: () => ({ result: 'z'.repeat(100) }),
    },
  });
  await sim.start(2);
  return sim;
}

/** Sends raw messages to a place and collects its answers. */
async function raw(sim: SimCluster, msgs: WireMessage[]): Promise<WireMessage[]> {
  const t = sim.net.transport(`raw-${Math.random()}`);
  const replies: WireMessage[] = [];
  t.onMessage((_l, m) => replies.push(m));
  const link = t.linkTo(sim.places[0].address);
  for (const m of msgs) link.send(m);
  await sim.net.runUntil(() => replies.length >= msgs.length);
  return replies;
}

describe('limits and bad input', () => {
  it('rejects an oversized key or value with an error naming the size and the limit, and stores nothing', async () => {
    const sim = await cluster();
    const c = sim.client();
    await expect(sim.settle(c.put('k'.repeat(17), 'v'))).rejects.toThrow(
      /key of 17 bytes exceeds the limit of 16 bytes/,
    );
    await expect(sim.settle(c.put('k', 'v'.repeat(100)))).rejects.toThrow(
      /value of \d+ bytes exceeds the limit of 64 bytes/,
    );
    await expect(sim.settle(c.compareAndSwap('k', undefined, 'v'.repeat(100)))).rejects.toBeInstanceOf(
      RequestError,
    );
    expect(await sim.settle(c.get('k'))).toBeUndefined();
    // A multi-byte key is measured in UTF-8 bytes, not characters.
    await expect(sim.settle(c.put('é'.repeat(9), 'v'))).rejects.toThrow(/key of 18 bytes/);
  });

  it('names an unknown processor, reports one that throws, and changes nothing either way', async () => {
    const sim = await cluster();
    const c = sim.client();
    await sim.settle(c.put('k', 'before'));
    await expect(sim.settle(c.submitToKey('k', 'nope'))).rejects.toThrow(/unknown processor 'nope'/);
    await expect(sim.settle(c.submitToKey('k', 'explode'))).rejects.toThrow(
      /processor 'explode' failed: boom/,
    );
    await expect(sim.settle(c.submitToKey('k', 'grow'))).rejects.toThrow(/produced a value of \d+ bytes/);
    await expect(sim.settle(c.submitToKey('k', 'tell'))).rejects.toThrow(
      /processor 'tell' produced a result of \d+ bytes; the limit is 64/,
    );
    await expect(sim.settle(c.submitToKey('k', 'increment'))).rejects.toThrow(/not a number/);
    expect(await sim.settle(c.get('k'))).toBe('before');
  });

  it('answers malformed requests with a clear error and keeps serving', async () => {
    const sim = await cluster();
    const replies = await raw(sim, [
      { t: 'op', id: 1, c: 'x', tv: 0, o: 'frobnicate', k: 'k' },
      { t: 'op', id: 2, c: 'x', tv: 0, o: 'put', k: 42 },
      { t: 'op', id: 3, c: 'x', tv: 0, o: 'put', k: 'k' },
      { t: 'op', id: 'four', c: 'x', tv: 0, o: 'get', k: 'k' },
    ]);
    expect(replies.map((r) => [r.code, r.msg])).toEqual([
      ['unknown_command', "unknown operation 'frobnicate'"],
      ['bad_request', 'key must be a string'],
      ['bad_request', 'put needs a value (v) as bytes'],
      ['bad_request', "request 'id' must be an integer"],
    ]);
    const c = sim.client();
    await sim.settle(c.put('k', 'still fine'));
    expect(await sim.settle(c.get('k'))).toBe('still fine');
  });

  it('the client refuses undefined values and non-string keys before sending', async () => {
    const sim = await cluster();
    const c = sim.client();
    await expect(c.put('k', undefined)).rejects.toThrow(/value is undefined/);
    await expect(c.get(7 as unknown as string)).rejects.toThrow(/key must be a string/);
  });
});

describe('bounded memory', () => {
  it('refuses new writes to a partition whose backup is too far behind, and says so', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2, tuning: { maxPendingWrites: 3 } });
    await sim.start(2);
    const c = sim.client({ timeoutMs: 400 });
    await sim.settle(c.put('k0', 'ready'));
    const backupName = sim.backupOf('k0').address;
    sim.net.drop = (from, _to, msg) => from === backupName && msg.t === 'replAcks';
    const waiting = [0, 1, 2].map((i) => c.put(`k${i}`, 'v').catch((e: Error) => e));
    await sim.net.runUntil(() => sim.primaryOf('k0').node.place.replica(0)!.pendingCount === 3);
    const refused = await sim.settle(c.put('k9', 'one too many').catch((e: Error) => e));
    expect(String(refused)).toMatch(/3 writes \(\d+ bytes\) waiting for its backup/);
    expect(sim.primaryOf('k0').node.place.replica(0)!.pendingCount).toBe(3);
    await sim.settle(Promise.all(waiting));
  });

  it('refuses new writes to a partition whose waiting writes pass the bound in bytes', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2, tuning: { maxPendingBytes: 1000 } });
    await sim.start(2);
    const c = sim.client({ timeoutMs: 400 });
    await sim.settle(c.put('k0', 'ready'));
    const backupName = sim.backupOf('k0').address;
    sim.net.drop = (from, _to, msg) => from === backupName && msg.t === 'replAcks';
    // Two writes of 600 bytes wait: 1,200 bytes and more, past the bound of 1,000.
    const waiting = [0, 1].map((i) => c.put(`k${i}`, 'v'.repeat(600)).catch((e: Error) => e));
    await sim.net.runUntil(() => sim.primaryOf('k0').node.place.replica(0)!.pendingCount === 2);
    const refused = await sim.settle(c.put('k9', 'small').catch((e: Error) => e));
    expect(String(refused)).toMatch(/2 writes \(1\d{3} bytes\) waiting for its backup/);
    expect(sim.primaryOf('k0').node.place.replica(0)!.pendingCount).toBe(2);
    await sim.settle(Promise.all(waiting));
  });

  it('a client past its bound of calls in flight fails the next at once, unsent', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    const sent: WireMessage[] = [];
    const transport = sim.net.transport('bounded-client');
    const c = new StoreClient({
      seeds: [sim.places[0]!.address],
      timeoutMs: 5000,
      transport,
      scheduler: sim.net.scheduler,
      maxInFlight: 3,
    });
    await sim.settle(c.ready());
    sim.net.onDeliver = (from, _to, msg) => {
      if (from === 'bounded-client' && msg.t === 'op') sent.push(msg);
    };
    const calls = [0, 1, 2, 3].map((i) => c.put(`k${i}`, i).catch((e: Error) => e));
    const fourth = await calls[3];
    expect(fourth).toBeInstanceOf(RequestError);
    expect(String(fourth)).toMatch(/3 calls are in flight on this client, the most it allows; not sent/);
    expect(await sim.settle(Promise.all(calls.slice(0, 3)))).toEqual([undefined, undefined, undefined]);
    expect([...new Set(sent.map((m) => m.k))].sort()).toEqual(['k0', 'k1', 'k2']);
  });
});

describe('no read observes a write before its backup has it', () => {
  it('a read of a key with an unreplicated write waits for the backup', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    const c = sim.client();
    await sim.settle(c.put('k', 'old'));
    const backupName = sim.backupOf('k').address;
    let holdAcks = true;
    sim.net.drop = (from, _to, msg) => holdAcks && from === backupName && msg.t === 'replAcks';
    const write = c.put('k', 'new');
    const primary = sim.primaryOf('k').node.place.replica(0)!;
    await sim.net.runUntil(() => primary.pendingCount === 1);
    let read: unknown = 'not yet';
    const reading = c.get('k').then((v) => {
      read = v;
    });
    const otherKey = c.get('other');
    await sim.settle(otherKey);
    expect(read).toBe('not yet');
    holdAcks = false;
    // The backup acks again with its next write; resend by writing another key.
    await sim.settle(c.put('other', 'x'));
    await sim.settle(Promise.all([write, reading]));
    expect(read).toBe('new');
  });
});
