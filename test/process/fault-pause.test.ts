import { connect, isRepaired, LocalCluster, type StoreClient } from 'placestore';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../src/protocol/table/keyPartition.js';
import { waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: LocalCluster | undefined;
const clients: StoreClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await cluster?.stop();
  cluster = undefined;
});

describe('SIGSTOP of a real primary', () => {
  it('paused until declared dead, then resumed: no read is ever stale, and it comes back as a spare', async () => {
    cluster = await LocalCluster.start({ places: 3, spares: 1, port: await freePorts(4) });
    const writer = await connect({ seeds: cluster.seeds, timeoutMs: 5000 });
    const reader = await connect({ seeds: cluster.seeds, timeoutMs: 5000 });
    clients.push(writer, reader);
    const before = await cluster.status();
    const victim = before.places.find((p) => p.id === 1)!;
    let key = '';
    for (let i = 0; key === ''; i++)
      if (before.partitions[partitionOfKey(`r-${i}`, 271)].primary === 1) key = `r-${i}`;

    // One writer writes 0, 1, 2, ...; readers check every read returns at least what was acknowledged when it began.
    let acked = -1;
    let stop = false;
    const stale: string[] = [];
    let reads = 0;
    const writing = (async () => {
      for (let i = 0; !stop && i < 1_000_000; i++) {
        try {
          await writer.put(key, i);
          acked = Math.max(acked, i);
        } catch {
          // unknown outcome; go on
        }
      }
    })();
    const reading = (async () => {
      while (!stop) {
        const floor = acked;
        try {
          const v = (await reader.get(key)) as number | undefined;
          reads++;
          if (v === undefined || v < floor) stale.push(`read ${v} after ${floor} was acknowledged`);
        } catch {
          // unavailable while the failover runs
        }
      }
    })();
    await waitUntil(() => acked >= 20, 20_000);
    process.kill(victim.pid, 'SIGSTOP');
    try {
      // Stopped until the others have declared it dead and moved on without it.
      await waitUntil(async () => {
        const during = await cluster!.status();
        return during.places.find((p) => p.id === 1)?.state === 'dead';
      }, 20_000);
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    const mark = acked;
    await waitUntil(() => acked >= mark + 50, 20_000);
    await waitUntil(async () => {
      const s = await cluster!.status();
      return (
        isRepaired(s) &&
        s.places.some((p) => p.address === victim.address && p.state === 'spare' && p.pid === victim.pid)
      );
    }, 30_000);
    stop = true;
    await Promise.all([writing, reading]);
    expect(stale).toEqual([]);
    expect(reads).toBeGreaterThan(50);
  });
});
