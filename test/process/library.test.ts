import { fileURLToPath } from 'node:url';
import { connect, LocalCluster, type StoreClient, UnavailableError } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';

const PROCESSORS = fileURLToPath(new URL('../fixtures/processors.mjs', import.meta.url));
let cluster: LocalCluster;
let store: StoreClient;

beforeAll(async () => {
  const port = await freePorts(4);
  cluster = await LocalCluster.start({ places: 3, spares: 1, port, placeArgs: ['--processors', PROCESSORS] });
  store = await connect({ seeds: [cluster.seeds[0]], timeoutMs: 5000 });
});

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

describe('the library against real places', () => {
  it('round-trips any MessagePack-able value', async () => {
    const values = [
      { nested: { list: [1, 'two', null] } },
      [1, 2, 3],
      42,
      -1.5,
      'text',
      true,
      null,
      Buffer.from([1, 2]),
    ];
    for (const [i, v] of values.entries()) await store.put(`value-${i}`, v);
    for (const [i, v] of values.entries()) expect(await store.get(`value-${i}`)).toEqual(v);
    expect(await store.get('never-written')).toBeUndefined();
  });

  it('compareAndSwap, delete and submitToKey with built-in and user processors', async () => {
    expect(await store.compareAndSwap('lock', undefined, { owner: 'a' })).toBe(true);
    expect(await store.compareAndSwap('lock', undefined, { owner: 'b' })).toBe(false);
    expect(await store.compareAndSwap('lock', { owner: 'a' }, { owner: 'b' })).toBe(true);
    expect(await store.get('lock')).toEqual({ owner: 'b' });
    await store.delete('lock');
    expect(await store.get('lock')).toBeUndefined();
    expect(await store.submitToKey('hits', 'increment')).toBe(1);
    expect(await store.submitToKey('hits', 'increment', 10)).toBe(11);
    expect(await store.submitToKey('high', 'max', 5)).toBe(5);
    expect(await store.submitToKey('high', 'max', 3)).toBe(5);
    expect(await store.submitToKey('high', 'remove')).toBe(5);
    expect(await store.get('high')).toBeUndefined();
    await expect(store.submitToKey('high', 'nope')).rejects.toThrow(/unknown processor 'nope'.*max/);
  });

  it('pipelines many requests on one connection, and another seed sees every write', async () => {
    const n = 2000;
    await Promise.all(Array.from({ length: n }, (_, i) => store.put(`pipe-${i}`, i)));
    const other = await connect({ seeds: [cluster.seeds[2]], timeoutMs: 5000 });
    try {
      const got = await Promise.all(Array.from({ length: n }, (_, i) => other.get(`pipe-${i}`)));
      expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      await other.close();
    }
  });

  it('a client with a stale table is redirected and succeeds', async () => {
    const client = await connect({ seeds: [cluster.seeds[1]], timeoutMs: 5000 });
    try {
      const real = client.tableData!;
      client.routeBy({
        ...real,
        version: 1,
        partitions: real.partitions.map((p) => ({ ...p, primary: p.backup, backup: p.primary })),
      });
      await client.put('stale-route', 'ok');
      expect(await client.get('stale-route')).toBe('ok');
      expect(client.tableVersion).toBe(real.version);
    } finally {
      await client.close();
    }
  });

  it('connect fails with UnavailableError when no seed answers', async () => {
    const port = await freePorts(1);
    const err = await connect({ seeds: [`127.0.0.1:${port}`], timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(/no place answered within 300 ms/);
    expect(err.maybeApplied).toBe(false);
  });
});
