// Repair at scale: a local 3-place + 1-spare cluster holding KEYS keys of VALUE_BYTES; under a light
// write load, SIGKILL of place 2 (neither leader nor deputy). Reports whether any live place was
// declared dead, the time to full redundancy, the copy rate, the longest event-loop block of each
// place (status --json places[].loopBlockMs), and whether every key and every acknowledged write
// reads back.
// Usage: npm run build && node scripts/measure-repair.mjs [keys=1000000] [valueBytes=100] [runs=1]
import { connect, isRepaired, LocalCluster } from '../dist/index.js';
import { partitionOfKey } from '../dist/protocol/table/keyPartition.js';

const keys = Number(process.argv[2] ?? 1_000_000);
const valueBytes = Number(process.argv[3] ?? 100);
const runs = Number(process.argv[4] ?? 1);
const port = Number(process.env.PORT ?? 7820);
const heapMb = Math.max(2048, Math.ceil((keys * (valueBytes + 400) * 2) / 3 / 1e6) * 2);

const log = (msg) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function load(client, value) {
  let next = 0;
  let lastReport = Date.now();
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < keys) {
        const i = next++;
        await client.put(`key-${i}`, value);
        if (Date.now() - lastReport > 5000) {
          lastReport = Date.now();
          log(`loaded ${i} of ${keys} keys (${Math.round(i / ((Date.now() - started) / 1000))}/s)`);
        }
      }
    }),
  );
}

/** Light write load: one write in flight, at most 200/s, on its own keys; remembers what was acknowledged. */
function lightWrites(client) {
  const acked = new Map();
  let stop = false;
  let n = 0;
  let failures = 0;
  const done = (async () => {
    while (!stop) {
      const key = `light-${n % 100}`;
      const value = `v${n++}`;
      try {
        await client.put(key, value);
        acked.set(key, value);
      } catch {
        failures++;
        acked.delete(key); // outcome unknown: either value may be there
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    acked,
    stop: async () => {
      stop = true;
      await done;
      return { writes: n, failures };
    },
  };
}

async function verify(client, value) {
  let next = 0;
  let missing = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < keys) {
        const v = await client.get(`key-${next++}`);
        if (v !== value) missing++;
      }
    }),
  );
  return missing;
}

async function once(run) {
  const cluster = await LocalCluster.start({
    places: 3,
    spares: 1,
    port,
    nodeArgs: [`--max-old-space-size=${heapMb}`],
  });
  const client = await connect({ seeds: cluster.seeds, timeoutMs: 30_000 });
  try {
    const value = 'x'.repeat(valueBytes);
    log(`run ${run}: loading ${keys} keys of ${valueBytes} B (logs in ${cluster.logDir})`);
    await load(client, value);
    const before = await cluster.waitRepaired(120_000);
    const victim = before.places.find((p) => p.id === 2);
    const touched = new Set(
      before.partitions.filter((p) => p.primary === 2 || p.backup === 2).map((p) => p.id),
    );
    let copyBytes = 0;
    for (let i = 0; i < keys; i++) {
      const key = `key-${i}`;
      if (touched.has(partitionOfKey(key, before.partitions.length))) copyBytes += key.length + valueBytes;
    }
    const writer = lightWrites(client);
    await new Promise((r) => setTimeout(r, 1000));
    log(
      `run ${run}: SIGKILL place 2 (pid ${victim.pid}); ${touched.size} partitions to copy, ${(copyBytes / 1e6).toFixed(1)} MB`,
    );
    const killedAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    let wronglyDead = [];
    let invalid = null;
    let repairedMs = Number.NaN;
    let last = before;
    for (let i = 0; i < 6000; i++) {
      const s = await cluster.status(5000).catch(() => null);
      if (s !== null) {
        last = s;
        const dead = s.places.filter((p) => p.state === 'dead' && p.id !== 2).map((p) => p.id);
        if (dead.length > 0) wronglyDead = dead;
        if (!s.valid) invalid = s.invalidReason;
        if (!s.valid || wronglyDead.length > 0) break;
        if (isRepaired(s) && s.places.find((p) => p.id === 2)?.state === 'dead') {
          repairedMs = performance.now() - killedAt;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const light = await writer.stop();
    let missing = Number.NaN;
    let lostWrites = Number.NaN;
    if (invalid === null) {
      log(`run ${run}: repaired after ${Math.round(repairedMs)} ms; reading every key back`);
      missing = await verify(client, value);
      lostWrites = 0;
      for (const [k, v] of writer.acked) if ((await client.get(k)) !== v) lostWrites++;
    }
    const final = await cluster.status(5000).catch(() => last);
    const result = {
      run,
      keys,
      valueBytes,
      liveDeclaredDead: wronglyDead,
      invalid,
      fullRedundancyMs: Math.round(repairedMs),
      copiedMB: Math.round(copyBytes / 1e5) / 10,
      copyMBps: Math.round((copyBytes / 1e6 / (repairedMs / 1000)) * 10) / 10,
      partitionsCopied: touched.size,
      msPerPartitionReplica: Math.round((repairedMs / touched.size) * 10) / 10,
      lightWrites: light.writes,
      lightWriteFailures: light.failures,
      missingKeys: missing,
      lostWrites,
      loopBlockMs: Object.fromEntries(final.places.map((p) => [p.id, p.loopBlockMs ?? null])),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await client.close();
    await cluster.stop();
  }
}

for (let r = 1; r <= runs; r++) await once(r);
