import { connect, isRepaired, LocalCluster, type StoreClient } from 'placestore';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../src/protocol/table/keyPartition.js';
import { alive, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';
import { checkNoLostWrites, startWriter } from '../support/workload.js';

let cluster: LocalCluster | undefined;
let client: StoreClient | undefined;

afterEach(async () => {
  await client?.close();
  await cluster?.stop();
  client = undefined;
  cluster = undefined;
});

/** Keys whose primary is the place with this id. */
function keysOnPrimary(
  status: Awaited<ReturnType<LocalCluster['status']>>,
  id: number,
  count: number,
): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count && i < 100_000; i++) {
    const key = `w-${i}`;
    if (status.partitions[partitionOfKey(key, status.partitions.length)].primary === id) keys.push(key);
  }
  return keys;
}

describe('SIGKILL of real places', () => {
  it('killing a primary under a steady write load loses no acknowledged write, and repairs onto the spare', async () => {
    cluster = await LocalCluster.start({ places: 3, spares: 1, port: await freePorts(4) });
    client = await connect({ seeds: cluster.seeds, timeoutMs: 5000 });
    const before = await cluster.status();
    const victim = before.places.find((p) => p.id === 2)!;
    const keys = [
      ...keysOnPrimary(before, 2, 4),
      ...keysOnPrimary(before, 1, 2),
      ...keysOnPrimary(before, 0, 2),
    ];
    const writers = keys.map((k) => startWriter(client!, k));
    await waitUntil(() => writers.every((w) => w.state.acked >= 20), 20_000);
    process.kill(victim.pid, 'SIGKILL');
    const target = writers.map((w) => w.state.acked + 50);
    await waitUntil(() => writers.every((w, i) => w.state.acked >= target[i]), 20_000);
    const states = await Promise.all(writers.map((w) => w.stop()));
    const after = await cluster.waitRepaired(30_000);
    expect(await checkNoLostWrites(client, states)).toEqual([]);
    expect(after.places.find((p) => p.id === 2)?.state).toBe('dead');
    expect(after.places.find((p) => p.id === 3)?.state).toBe('active');
    expect(after.partitions.every((p) => p.primary !== 2 && p.backup !== 2)).toBe(true);
  });

  it('killing the leader, then the deputy, each followed by repair', async () => {
    cluster = await LocalCluster.start({ places: 3, spares: 1, port: await freePorts(4) });
    client = await connect({ seeds: cluster.seeds, timeoutMs: 5000 });
    const writers = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => startWriter(client!, k));
    await waitUntil(() => writers.every((w) => w.state.acked >= 10), 20_000);
    const first = await cluster.status();
    expect(first.leader).toBe(0);
    process.kill(first.places.find((p) => p.id === 0)!.pid, 'SIGKILL');
    let s = first;
    await waitUntil(async () => {
      s = await cluster!.status();
      return s.leader === 1 && isRepaired(s);
    }, 30_000);
    expect(s.places.find((p) => p.id === 0)?.state).toBe('dead');
    expect(s.deputy).not.toBeNull();
    const deputy = s.places.find((p) => p.id === s.deputy)!;
    const mark = writers.map((w) => w.state.acked);
    process.kill(deputy.pid, 'SIGKILL');
    await waitUntil(async () => {
      s = await cluster!.status();
      return s.places.find((p) => p.id === deputy.id)?.state === 'dead' && isRepaired(s);
    }, 30_000);
    await waitUntil(() => writers.every((w, i) => w.state.acked >= mark[i] + 20), 20_000);
    const states = await Promise.all(writers.map((w) => w.stop()));
    expect(await checkNoLostWrites(client, states)).toEqual([]);
    expect(s.leader).toBe(1);
    expect(
      s.places
        .filter((p) => p.state === 'active')
        .map((p) => p.id)
        .sort(),
    ).toEqual([1, deputy.id === 2 ? 3 : 2].sort());
    expect(alive(deputy.pid)).toBe(false);
  });
});
