// Measures failover on a local 3-place + 1-spare cluster: load KEYS keys of VALUE_BYTES, SIGKILL a
// primary (place 2, not the leader), then time (a) until a write succeeds again on every partition the
// dead place was primary for (unavailability window) and (b) until every partition is ok again.
// Usage: npm run build && node scripts/measure-failover.mjs [runs=5] [keys=100000] [valueBytes=100]
import { connect, isRepaired, LocalCluster } from '../dist/index.js';
import { partitionOfKey } from '../dist/protocol/table/keyPartition.js';

const runs = Number(process.argv[2] ?? 5);
const keys = Number(process.argv[3] ?? 100_000);
const valueBytes = Number(process.argv[4] ?? 100);
const port = Number(process.env.PORT ?? 7800);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function once(run) {
  const cluster = await LocalCluster.start({ places: 3, spares: 1, port });
  const client = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
  try {
    const value = 'x'.repeat(valueBytes);
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < keys) await client.put(`key-${next++}`, value);
      }),
    );
    const before = await cluster.status();
    const victim = before.places.find((p) => p.id === 2);
    const parts = before.partitions.filter((p) => p.primary === 2).map((p) => p.id);
    // One probe key per partition the victim is primary for.
    const probes = new Map();
    for (let i = 0; probes.size < parts.length && i < 1_000_000; i++) {
      const p = partitionOfKey(`probe-${i}`, before.partitions.length);
      if (parts.includes(p) && !probes.has(p)) probes.set(p, `probe-${i}`);
    }
    const killedAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    const repaired = (async () => {
      for (let i = 0; i < 2400; i++) {
        const s = await cluster.status().catch(() => null);
        if (s !== null && isRepaired(s) && s.places.find((p) => p.id === 2)?.state === 'dead') {
          return performance.now() - killedAt;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return Number.NaN;
    })();
    const firstOk = await Promise.all(
      [...probes.values()].map(async (key) => {
        for (let attempt = 0; attempt < 1000; attempt++) {
          try {
            await client.put(key, 'after');
            return performance.now() - killedAt;
          } catch {
            // retry until the partition answers
          }
        }
        return Number.NaN;
      }),
    );
    const repairedMs = await repaired;
    const result = {
      run,
      keys,
      partitionsOfVictim: parts.length,
      firstWriteMs: Math.round(Math.min(...firstOk)),
      allPartitionsWritableMs: Math.round(Math.max(...firstOk)),
      fullRedundancyMs: Math.round(repairedMs),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await client.close();
    await cluster.stop();
  }
}

const results = [];
for (let r = 1; r <= runs; r++) results.push(await once(r));
console.log(
  JSON.stringify({
    runs,
    keys,
    valueBytes,
    median_firstWriteMs: median(results.map((r) => r.firstWriteMs)),
    median_allPartitionsWritableMs: median(results.map((r) => r.allPartitionsWritableMs)),
    median_fullRedundancyMs: median(results.map((r) => r.fullRedundancyMs)),
  }),
);
