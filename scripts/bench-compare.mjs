// npm run bench:compare: the same load, from the same driver, against a Node TCP echo server, Redis
// (a primary and a replica; SET, SET + WAIT 1, GET), a 3-member etcd and a 3-place placestore, one after
// the other on loopback ports of its own; medians of RUNS runs; writes docs/benchmarks.md and
// docs/benchmarks.svg. Installs nothing: redis-server and etcd must be on the PATH
// (apt-get install -y redis-server etcd-server). Stops everything it started, also on failure.
// Environment: RUNS (3), SECONDS (10), MEMORY_KEYS (1000000; 0 skips the memory comparison).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import Redis from 'ioredis';
import { connect, LocalCluster, runBench } from '../dist/index.js';
import { TcpTransport } from '../dist/transport/TcpTransport.js';

const RUNS = Number(process.env.RUNS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 10);
const MEMORY_KEYS = Number(process.env.MEMORY_KEYS ?? 1_000_000);
const BASE_PORT = 17_100;
const work = mkdtempSync(join(tmpdir(), 'placestore-compare-'));
const children = [];
const cleanups = [];

function need(cmd) {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
  } catch {
    console.error(`bench:compare needs ${cmd} on the PATH: apt-get install -y redis-server etcd-server`);
    process.exit(2);
  }
}

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-2000);
  });
  child.lastError = () => err;
  children.push(child);
  return child;
}

async function stopAll() {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          r();
        }, 3000);
        c.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  rmSync(work, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    void stopAll().finally(() => process.exit(1));
  });
}

async function until(cond, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const progress = (line) => process.stderr.write(line + '\n');

/** Runs one configuration RUNS times and keeps the run with the median throughput. */
async function measure(name, op, clients, target) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runBench(
      target,
      { op, clients, keys: 10_000, valueBytes: 100, seconds: SECONDS, warmup: 2 },
      name,
    );
    progress(
      `  ${name} ${op} x${clients}: ${r.ops_per_sec} ops/s, p50 ${r.p50_us} us, p99 ${r.p99_us} us, ${r.errors} errors`,
    );
    runs.push(r);
  }
  const m = median(runs.map((r) => r.ops_per_sec));
  return { ...runs.find((r) => r.ops_per_sec === m), runs: runs.map((r) => r.ops_per_sec) };
}

// ---- the stores ----

async function echoTarget() {
  const port = BASE_PORT;
  const server = start(process.execPath, [
    '--input-type=module',
    '-e',
    `import { TcpTransport } from '${new URL('../dist/transport/TcpTransport.js', import.meta.url).href}';
     const t = new TcpTransport(); t.onMessage((link, m) => link.send(m)); await t.listen('127.0.0.1:${port}');`,
  ]);
  await until(
    () =>
      new Promise((r) =>
        net
          .connect(port, '127.0.0.1')
          .once('connect', function () {
            this.destroy();
            r(true);
          })
          .once('error', () => r(false)),
      ),
    'echo server',
  );
  const transport = new TcpTransport();
  const pending = new Map();
  let id = 0;
  transport.onMessage((_l, m) => {
    const resolve = pending.get(m.id);
    pending.delete(m.id);
    resolve?.(m);
  });
  cleanups.push(() => transport.close());
  const link = () => transport.linkTo(`127.0.0.1:${port}`);
  const call = (k, v) =>
    new Promise((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      link().send({ t: 'echo', id: n, k, v });
    });
  return { server, target: { put: (k, v) => call(k, v), get: (k) => call(k, null) } };
}

async function redisTargets() {
  const [p, r] = [BASE_PORT + 10, BASE_PORT + 11];
  const common = ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--protected-mode', 'no'];
  start('redis-server', ['--port', String(p), '--dir', work, '--dbfilename', 'p.rdb', ...common]);
  start('redis-server', [
    '--port',
    String(r),
    '--dir',
    work,
    '--dbfilename',
    'r.rdb',
    '--replicaof',
    '127.0.0.1',
    String(p),
    ...common,
  ]);
  const primary = new Redis({ port: p, host: '127.0.0.1', enableAutoPipelining: true, lazyConnect: true });
  const replica = new Redis({ port: r, host: '127.0.0.1', lazyConnect: true });
  // Connection attempts before the servers listen are retried by until(); keep them quiet.
  primary.on('error', () => {});
  replica.on('error', () => {});
  await until(
    async () =>
      (await primary.connect().then(
        () => true,
        () => false,
      )) || primary.status === 'ready',
    'redis primary',
  );
  await until(
    async () =>
      (await replica.connect().then(
        () => true,
        () => false,
      )) || replica.status === 'ready',
    'redis replica',
  );
  await until(
    async () => (await primary.info('replication')).includes('connected_slaves:1'),
    'redis replica to attach',
  );
  cleanups.push(async () => {
    primary.disconnect();
    replica.disconnect();
  });
  return {
    primary,
    replica,
    set: { put: (k, v) => primary.set(k, v), get: (k) => primary.get(k) },
    setWait: {
      put: async (k, v) => {
        await primary.set(k, v);
        const acked = await primary.wait(1, 1000);
        if (acked < 1) throw new Error('WAIT: the replica did not acknowledge');
      },
      get: (k) => primary.get(k),
    },
  };
}

async function etcdTarget() {
  const names = ['e1', 'e2', 'e3'];
  const client = (i) => `http://127.0.0.1:${BASE_PORT + 20 + i}`;
  const peer = (i) => `http://127.0.0.1:${BASE_PORT + 30 + i}`;
  const cluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  names.forEach((n, i) => {
    start('etcd', [
      '--name',
      n,
      '--data-dir',
      join(work, n),
      '--listen-client-urls',
      client(i),
      '--advertise-client-urls',
      client(i),
      '--listen-peer-urls',
      peer(i),
      '--initial-advertise-peer-urls',
      peer(i),
      '--initial-cluster',
      cluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      'bench',
      '--logger',
      'zap',
      '--log-level',
      'error',
    ]);
  });
  const etcd = new Etcd3({ hosts: names.map((_, i) => client(i)) });
  cleanups.push(async () => etcd.close());
  await until(async () => {
    await etcd.put('ready').value('1');
    return true;
  }, 'etcd');
  return { put: (k, v) => etcd.put(k).value(v), get: (k) => etcd.get(k).string() };
}

async function placestoreTarget() {
  const cluster = await LocalCluster.start({ places: 3, spares: 0, port: BASE_PORT + 40 });
  const client = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
  cleanups.push(async () => {
    await client.close();
    await cluster.stop();
  });
  return { cluster, client };
}

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

async function load(put, keys) {
  const value = 'x'.repeat(100);
  let next = 0;
  let last = Date.now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < keys) {
        const k = next++;
        await put(`mem-${k}`, value);
        if (Date.now() - last > 2000) {
          last = Date.now();
          progress(`  loaded ${k} of ${keys} keys`);
        }
      }
    }),
  );
}

// ---- the run ----

need('redis-server');
need('etcd');
const results = [];
const memory = {};
try {
  progress('echo server');
  const echo = await echoTarget();
  results.push(await measure('node-echo', 'put', 64, echo.target));
  results.push(await measure('node-echo', 'put', 1, echo.target));

  progress('redis primary + replica');
  const redis = await redisTargets();
  results.push(await measure('redis-set', 'put', 64, redis.set));
  results.push(await measure('redis-set-wait1', 'put', 64, redis.setWait));
  results.push(await measure('redis-get', 'get', 64, redis.set));
  results.push(await measure('redis-set-wait1', 'put', 1, redis.setWait));
  results.push(await measure('redis-get', 'get', 1, redis.set));

  progress('etcd, 3 members');
  const etcd = await etcdTarget();
  results.push(await measure('etcd', 'put', 64, etcd));

  progress('placestore, 3 places');
  const ps = await placestoreTarget();
  results.push(await measure('placestore', 'put', 64, ps.client));
  results.push(await measure('placestore', 'get', 64, ps.client));
  results.push(await measure('placestore', 'put', 1, ps.client));
  results.push(await measure('placestore', 'get', 1, ps.client));

  if (MEMORY_KEYS > 0) {
    progress(`memory: ${MEMORY_KEYS} keys of 100 bytes`);
    const before = Number(/used_memory:(\d+)/.exec(await redis.primary.info('memory'))[1]);
    const beforeReplica = Number(/used_memory:(\d+)/.exec(await redis.replica.info('memory'))[1]);
    await load((k, v) => redis.primary.set(k, v), MEMORY_KEYS);
    await redis.primary.wait(1, 10_000);
    const after = Number(/used_memory:(\d+)/.exec(await redis.primary.info('memory'))[1]);
    const afterReplica = Number(/used_memory:(\d+)/.exec(await redis.replica.info('memory'))[1]);
    const pids = ps.cluster.places.map((p) => p.child.pid);
    const rssBefore = pids.reduce((s, pid) => s + rssBytes(pid), 0);
    await load((k, v) => ps.client.put(k, v), MEMORY_KEYS);
    const rssAfter = pids.reduce((s, pid) => s + rssBytes(pid), 0);
    memory.redisPrimaryPerKey = (after - before) / MEMORY_KEYS;
    memory.redisWithReplicaPerKey = (after - before + afterReplica - beforeReplica) / MEMORY_KEYS;
    memory.placestorePerKey = (rssAfter - rssBefore) / MEMORY_KEYS;
  }
} finally {
  await stopAll();
}

// ---- the report ----

const find = (target, op, clients) =>
  results.find((r) => r.target === target && r.op === op && r.clients === clients);
const fmt = (n) => n.toLocaleString('en-US');
const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(2) + 'x' : '-');
const psPut = find('placestore', 'put', 64);
const psGet = find('placestore', 'get', 64);
const rows = results
  .map(
    (r) =>
      `| ${r.target} | ${r.op} | ${r.clients} | ${fmt(r.ops_per_sec)} | ${r.p50_us} | ${r.p99_us} | ${r.runs.map(fmt).join(' / ')} |`,
  )
  .join('\n');
const targets = [
  [
    'Replicated put ≥ 2x Redis SET+WAIT 1',
    psPut?.ops_per_sec,
    find('redis-set-wait1', 'put', 64)?.ops_per_sec,
    2,
  ],
  ['Replicated put ≥ 10x etcd put', psPut?.ops_per_sec, find('etcd', 'put', 64)?.ops_per_sec, 10],
  [
    '(aim) replicated put ≥ unreplicated Redis SET',
    psPut?.ops_per_sec,
    find('redis-set', 'put', 64)?.ops_per_sec,
    1,
  ],
  ['Get ≥ Redis GET', psGet?.ops_per_sec, find('redis-get', 'get', 64)?.ops_per_sec, 1],
];
const latencyTargets = [
  [
    'put p50, 1 in flight ≤ 2.2x echo round trip',
    find('placestore', 'put', 1)?.p50_us,
    find('node-echo', 'put', 1)?.p50_us,
    2.2,
  ],
  [
    'get p50, 1 in flight ≤ 1.2x echo round trip',
    find('placestore', 'get', 1)?.p50_us,
    find('node-echo', 'put', 1)?.p50_us,
    1.2,
  ],
  [
    'put p99 at 64 in flight < Redis SET+WAIT p99',
    psPut?.p99_us,
    find('redis-set-wait1', 'put', 64)?.p99_us,
    1,
  ],
];
const verdict = (ok) => (ok ? 'met' : '**missed**');
const md = `# Benchmarks

Measured by \`npm run bench:compare\` in one run, on ${new Date().toISOString().slice(0, 10)}, on this project's
development machine (2 cores, Node ${process.versions.node}, loopback). Same driver for every store
(\`src/bench/Bench.ts\`: requests in flight, per-request HDR histograms), 100-byte values, 10,000 keys,
${SECONDS} s measured after 2 s of warmup, the median of ${RUNS} runs (all runs listed). Redis ${
  execFileSync('redis-server', ['--version'])
    .toString()
    .match(/v=([\d.]+)/)?.[1]
} with one replica
(ioredis, auto-pipelining), etcd ${
  execFileSync('etcd', ['--version'])
    .toString()
    .match(/Version: ([\d.]+)/)?.[1]
} with 3 members (etcd3 client), placestore with 3 places.

| store | op | in flight | ops/s | p50 µs | p99 µs | runs (ops/s) |
|---|---|---|---|---|---|---|
${rows}

## Targets (issue 6)

| target | placestore | peer | ratio | |
|---|---|---|---|---|
${targets.map(([what, a, b, need]) => `| ${what} | ${a === undefined ? '-' : fmt(a)} ops/s | ${b === undefined ? '-' : fmt(b)} ops/s | ${ratio(a, b)} | ${verdict(a !== undefined && b !== undefined && a >= need * b)} |`).join('\n')}
${latencyTargets.map(([what, a, b, limit]) => `| ${what} | ${a ?? '-'} µs | ${b ?? '-'} µs | ${ratio(a, b)} | ${verdict(a !== undefined && b !== undefined && (limit === 1 ? a < b : a <= limit * b))} |`).join('\n')}
${
  memory.placestorePerKey === undefined
    ? ''
    : `| Memory per key ≤ 1.5x Redis with one replica | ${Math.round(memory.placestorePerKey)} B (RSS of 3 places, primary + backup) | ${Math.round(memory.redisWithReplicaPerKey)} B (used_memory, primary + replica) | ${ratio(memory.placestorePerKey, memory.redisWithReplicaPerKey)} | ${verdict(memory.placestorePerKey <= 1.5 * memory.redisWithReplicaPerKey)} |`
}

![ops/s at 64 in flight](benchmarks.svg)

What was changed for speed, what each step gave, and why the missed targets are missed: [performance.md](performance.md).
`;
const bars = results.filter((r) => r.clients === 64);
const max = Math.max(...bars.map((r) => r.ops_per_sec));
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 ${40 + bars.length * 34}" font-family="sans-serif" font-size="13">
<title>ops/s at 64 requests in flight, by store</title>
<text x="10" y="20" font-weight="bold">ops/s at 64 requests in flight (median of ${RUNS})</text>
${bars
  .map((r, i) => {
    const w = Math.max(2, (r.ops_per_sec / max) * 430);
    const y = 34 + i * 34;
    const color = r.target === 'placestore' ? '#2e7d32' : r.target === 'node-echo' ? '#9e9e9e' : '#1565c0';
    return `<text x="10" y="${y + 17}">${r.target} ${r.op}</text><rect x="190" y="${y}" width="${w.toFixed(1)}" height="24" fill="${color}"/><text x="${(196 + w).toFixed(1)}" y="${y + 17}">${fmt(r.ops_per_sec)}</text>`;
  })
  .join('\n')}
</svg>
`;
mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
writeFileSync(new URL('../docs/benchmarks.md', import.meta.url), md);
writeFileSync(new URL('../docs/benchmarks.svg', import.meta.url), svg);
console.log(JSON.stringify({ results: results.map(({ runs, ...r }) => r), memory }));
