// How often primaries that nothing happened to say "holds no lease" during a failover: PLACES places
// and a spare, KEYS keys loaded, then place 2 is SIGKILLed; for SECONDS every surviving primary is
// asked, every 10 ms, for a key of each partition it leads, straight over its own connection (no
// client retries hide the answers). Prints one JSON line: probes, and answers "holds no lease".
// Usage: npm run build && node scripts/measure-lease-gaps.mjs [places=6] [keys=20000] [seconds=5] [runs=3]
import { connect, LocalCluster } from '../dist/index.js';
import { partitionOfKey } from '../dist/protocol/table/keyPartition.js';
import { TcpTransport } from '../dist/transport/TcpTransport.js';

const places = Number(process.argv[2] ?? 6);
const keys = Number(process.argv[3] ?? 20_000);
const seconds = Number(process.argv[4] ?? 5);
const runs = Number(process.argv[5] ?? 3);
const port = Number(process.env.PORT ?? 7820);

async function once() {
  const cluster = await LocalCluster.start({ places, spares: 1, port });
  const client = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
  const probe = new TcpTransport();
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 128 }, async () => {
        while (next < keys) await client.put(`key-${next++}`, 'x'.repeat(100));
      }),
    );
    const before = await cluster.status();
    const victim = before.places.find((p) => p.id === 2);
    // One key per partition led by a place that stays up.
    const probes = [];
    for (const part of before.partitions) {
      if (part.primary === victim.id || part.primary === null) continue;
      let key = null;
      for (let i = 0; key === null && i < 1_000_000; i++)
        if (partitionOfKey(`probe-${i}`, before.partitions.length) === part.id) key = `probe-${i}`;
      probes.push({
        partition: part.id,
        key,
        address: before.places.find((p) => p.id === part.primary).address,
      });
    }
    let sent = 0;
    let noLease = 0;
    let id = 1;
    probe.onMessage((_link, msg) => {
      if (msg.t === 'err' && typeof msg.msg === 'string' && msg.msg.includes('holds no lease')) noLease++;
    });
    process.kill(victim.pid, 'SIGKILL');
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      for (const p of probes) {
        probe.linkTo(p.address).send({ t: 'op', id: id++, c: 'lease-probe', tv: 0, o: 'get', k: p.key });
        sent++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 200));
    return { probes: sent, holdsNoLease: noLease, partitionsProbed: probes.length };
  } finally {
    await probe.close();
    await client.close();
    await cluster.stop();
  }
}

const results = [];
for (let r = 0; r < runs; r++) {
  const res = await once();
  process.stderr.write(`run ${r + 1}: ${JSON.stringify(res)}\n`);
  results.push(res);
}
process.stdout.write(
  `${JSON.stringify({ places, keys, seconds, runs: results, holdsNoLease: results.map((r) => r.holdsNoLease) })}\n`,
);
