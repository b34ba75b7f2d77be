// Measures memory per stored key on a local 3-place cluster: the growth of the places' resident set
// (primary + backup copies, every place summed) while KEYS keys of VALUE_BYTES are written.
// Usage: npm run build && node scripts/measure-memory.mjs [keys=1000000] [valueBytes=100]
import { readFileSync } from 'node:fs';
import { connect, LocalCluster } from '../dist/index.js';

const keys = Number(process.argv[2] ?? 1_000_000);
const valueBytes = Number(process.argv[3] ?? 100);
const port = Number(process.env.PORT ?? 7850);

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

const cluster = await LocalCluster.start({ places: 3, port });
let client;
try {
  client = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
  const pids = (await cluster.status()).places.map((p) => p.pid);
  const value = 'x'.repeat(valueBytes);
  // Warm up (code, pools, connections) before the baseline.
  await Promise.all(Array.from({ length: 1000 }, (_, i) => client.put(`warm-${i}`, value)));
  const before = pids.reduce((s, pid) => s + rssBytes(pid), 0);
  let next = 0;
  let last = Date.now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < keys) {
        await client.put(`mem-${next++}`, value);
        if (Date.now() - last > 2000) {
          last = Date.now();
          process.stderr.write(`  ${next} of ${keys} keys\n`);
        }
      }
    }),
  );
  const after = pids.reduce((s, pid) => s + rssBytes(pid), 0);
  console.log(
    JSON.stringify({
      keys,
      valueBytes,
      rssGrowthBytes: after - before,
      bytesPerKey: Math.round((after - before) / keys),
    }),
  );
} finally {
  await client?.close();
  await cluster.stop();
}
