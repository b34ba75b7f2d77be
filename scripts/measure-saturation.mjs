// Saturation: CLIENTS clients (each its own connections, one request in flight at a time, 80% puts and
// 20% gets on 10,000 keys) against a local 3-place cluster for SECONDS, from DRIVERS driver processes.
// No fault is injected. Reports throughput, latency percentiles (HDR), busy refusals, whether any
// place was declared dead or the store turned invalid, and each place's longest event-loop block.
// Usage: npm run build && node scripts/measure-saturation.mjs [clients=5000] [seconds=60] [drivers=4]
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import { connect, LocalCluster } from '../dist/index.js';

const clients = Number(process.argv[2] ?? 5000);
const seconds = Number(process.argv[3] ?? 60);
const drivers = Number(process.argv[4] ?? 4);
const port = Number(process.env.PORT ?? 7840);
const log = (msg) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

if (process.env.SATURATION_DRIVER === '1') {
  // A driver: n clients, each looping one request at a time until the deadline.
  const { seeds, n } = JSON.parse(process.env.SATURATION_ARGS);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let ok = 0;
  let failed = 0;
  const errors = new Map();
  const value = 'x'.repeat(100);
  const stores = [];
  for (let i = 0; i < n; i++) stores.push(await connect({ seeds, timeoutMs: 30_000 }));
  process.send({ ready: true });
  // All drivers start together; the go signal carries the deadline.
  const { go: untilMs } = await new Promise((r) => process.once('message', r));
  await Promise.all(
    stores.map(async (store, i) => {
      for (let j = 0; Date.now() < untilMs && j < 10_000_000; j++) {
        const key = `key-${(i * 7919 + j) % 10_000}`;
        const t0 = process.hrtime.bigint();
        try {
          if (j % 5 === 4) await store.get(key);
          else await store.put(key, value);
          histogram.recordValue(Number((process.hrtime.bigint() - t0) / 1000n));
          ok++;
        } catch (err) {
          failed++;
          const what = String(err.message).slice(0, 80);
          errors.set(what, (errors.get(what) ?? 0) + 1);
        }
      }
    }),
  );
  await Promise.all(stores.map((s) => s.close()));
  process.send({ ok, failed, errors: [...errors], histogram: hdr.encodeIntoCompressedBase64(histogram) });
  process.exit(0);
}

const cluster = await LocalCluster.start({
  places: 3,
  spares: 1,
  port,
  nodeArgs: (process.env.PLACE_NODE_ARGS ?? '').split(' ').filter(Boolean),
});
try {
  log(`cluster up (logs in ${cluster.logDir}); starting ${drivers} drivers with ${clients} clients in all`);
  const children = [];
  for (let d = 0; d < drivers; d++) {
    const n = Math.floor(clients / drivers) + (d < clients % drivers ? 1 : 0);
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: {
        ...process.env,
        SATURATION_DRIVER: '1',
        SATURATION_ARGS: JSON.stringify({ seeds: cluster.seeds, n }),
      },
    });
    // On one machine the load generator runs at a lower priority than the places, as a separate
    // client machine would: the figures are the store's, not the scheduler's.
    if (process.env.SATURATION_SAME_PRIORITY !== '1') os.setPriority(child.pid, 10);
    children.push(child);
  }
  // Drivers connect first, then all start together for SECONDS.
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
  log(`${clients} clients connected; saturating for ${seconds} s`);
  const results = children.map((c) => new Promise((r) => c.once('message', r)));
  const end = Date.now() + seconds * 1000;
  for (const c of children) c.send({ go: end });
  let everDead = [];
  let invalid = null;
  const blocks = new Map();
  const watch = (async () => {
    while (Date.now() < end) {
      const s = await cluster.status(5000).catch(() => null);
      if (s !== null) {
        const dead = s.places.filter((p) => p.state === 'dead').map((p) => p.id);
        if (dead.length > 0) everDead = dead;
        if (!s.valid) invalid = s.invalidReason;
        for (const p of s.places)
          if (p.loopBlockMs !== null) blocks.set(p.id, Math.max(blocks.get(p.id) ?? 0, p.loopBlockMs));
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const out = await Promise.all(results);
  await watch;
  const total = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let ok = 0;
  let failed = 0;
  const errors = new Map();
  for (const r of out) {
    ok += r.ok;
    failed += r.failed;
    for (const [k, v] of r.errors) errors.set(k, (errors.get(k) ?? 0) + v);
    total.add(hdr.decodeFromCompressedBase64(r.histogram));
  }
  console.log(
    JSON.stringify({
      clients,
      seconds,
      ops: ok,
      failed,
      ops_per_sec: Math.round(ok / seconds),
      p50_ms: total.getValueAtPercentile(50) / 1000,
      p99_ms: total.getValueAtPercentile(99) / 1000,
      p999_ms: total.getValueAtPercentile(99.9) / 1000,
      max_ms: total.maxValue / 1000,
      declaredDead: everDead,
      invalid,
      loopBlockMs: Object.fromEntries(blocks),
      errors: [...errors].slice(0, 5),
    }),
  );
} finally {
  await cluster.stop();
}
