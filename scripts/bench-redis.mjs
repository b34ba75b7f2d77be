// Usage: npm run build && node scripts/bench-redis.mjs
// redis-benchmark (a C client) against placestore's Redis door (3 places, `--cluster`), redis-server
// alone, and redis-server with one replica, side by side in one run: each configuration runs once
// against every store in turn, RUNS times, and the medians are printed as a Markdown table with the
// ratios the Redis door's targets ask for. Needs redis-server and redis-benchmark on the PATH
// (apt-get install -y redis-server redis-tools). Every process it starts is stopped, also on failure.
// Environment: PLACE_ARGS (extra flags for every place, e.g. '--failure-timeout-ms 3000'), RUNS (3), REQUESTS (200000), KEYS (100000: -r, random keys), MEMORY_KEYS (300000; 0 skips
// the memory comparison).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '../dist/index.js';

const RUNS = Number(process.env.RUNS ?? 3);
const REQUESTS = Number(process.env.REQUESTS ?? 200_000);
const KEYS = Number(process.env.KEYS ?? 100_000);
const MEMORY_KEYS = Number(process.env.MEMORY_KEYS ?? 300_000);
const BASE_PORT = Number(process.env.PORT ?? 17_300);
const work = mkdtempSync(join(tmpdir(), 'placestore-bench-redis-'));
const children = [];
let cluster;

for (const cmd of ['redis-server', 'redis-benchmark']) {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
  } catch {
    console.error(`bench-redis needs ${cmd} on the PATH: apt-get install -y redis-server redis-tools`);
    process.exit(2);
  }
}

function redisServer(port, extra = []) {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra],
    { cwd: work, stdio: 'ignore' },
  );
  children.push(child);
  return child;
}

/** Sends one inline command and returns the reply's text (enough for PING, INFO, DBSIZE). */
function ask(port, line) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`${line}\r\n`));
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to ${line} on ${port}`));
    }, 5000);
    s.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m === null ? buf.endsWith('\r\n') : buf.length >= m[0].length + Number(m[1]) + 2) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function waitFor(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function infoField(text, field) {
  const m = new RegExp(`^${field}:(\\S+)`, 'm').exec(text);
  return m === null ? null : m[1];
}

/** Runs redis-benchmark once; returns {SET: {rps, p50}, GET: {...}, errors} from its CSV (null rows when it failed). */
function benchmark(args) {
  const r = spawnSync('redis-benchmark', [...args, '--csv'], { encoding: 'utf8', timeout: 180_000 });
  const errors = (r.stderr.match(/Error from server/g) ?? []).length;
  const result = { SET: null, GET: null, errors };
  for (const line of (r.stdout ?? '').split('\n')) {
    const cells = line.split(',').map((c) => c.replace(/"/g, ''));
    if (cells[0] === 'SET' || cells[0] === 'GET')
      result[cells[0]] = { rps: Number(cells[1]), p50: Number(cells[4]) };
  }
  if (result.SET === null || result.GET === null)
    process.stderr.write(
      `redis-benchmark ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}), ${errors} error replies\n`,
    );
  return result;
}

// A failed run (NaN) sorts last: the median is of the runs that finished, if most did.
const median = (xs) =>
  [...xs].sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b))[Math.floor(xs.length / 2)];
const stop = async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => void stop().then(() => process.exit(130)));

try {
  const alone = BASE_PORT;
  const primary = BASE_PORT + 1;
  const replica = BASE_PORT + 2;
  redisServer(alone);
  redisServer(primary);
  redisServer(replica, ['--replicaof', '127.0.0.1', String(primary)]);
  mkdirSync(join(work, 'placestore'));
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port: BASE_PORT + 10,
    respPort: BASE_PORT + 20,
    logDir: join(work, 'placestore'),
    placeArgs: (process.env.PLACE_ARGS ?? '').split(' ').filter((a) => a !== ''),
  });
  await waitFor('redis-server', async () => (await ask(alone, 'PING')).startsWith('+PONG'));
  await waitFor(
    'the replica',
    async () => infoField(await ask(replica, 'INFO replication'), 'master_link_status') === 'up',
  );
  const stores = {
    placestore: ['--cluster', '-p', String(BASE_PORT + 20)],
    'redis alone': ['-p', String(alone)],
    'redis + replica': ['-p', String(primary)],
  };
  const common = ['-t', 'set,get', '-d', '100', '-r', String(KEYS)];
  const configs = {
    '-c 50': ['-c', '50', '-n', String(REQUESTS)],
    '-c 50 -P 16': ['-c', '50', '-P', '16', '-n', String(REQUESTS * 4)],
    '-c 1': ['-c', '1', '-n', String(Math.max(2000, Math.floor(REQUESTS / 20)))],
  };
  const results = {};
  const errorReplies = {};
  for (let run = 1; run <= RUNS; run++) {
    for (const [config, cargs] of Object.entries(configs)) {
      for (const [store, sargs] of Object.entries(stores)) {
        const r = benchmark([...sargs, ...common, ...cargs]);
        for (const op of ['SET', 'GET']) {
          const key = `${store}|${config}|${op}`;
          results[key] ??= [];
          results[key].push(r[op] ?? { rps: Number.NaN, p50: Number.NaN });
          errorReplies[key] = (errorReplies[key] ?? 0) + r.errors;
        }
        const show = (x) => (x === null ? 'failed' : `${Math.round(x.rps)}/s p50 ${x.p50} ms`);
        process.stderr.write(
          `run ${run}/${RUNS} ${config.padEnd(12)} ${store.padEnd(16)} SET ${show(r.SET)}, GET ${show(r.GET)}${r.errors > 0 ? `, ${r.errors} error replies` : ''}\n`,
        );
      }
    }
  }
  if (RUNS > 0) await printSpeed();
  async function printSpeed() {
    const med = (store, config, op, field) =>
      median(results[`${store}|${config}|${op}`].map((x) => x[field]));
    console.log(
      `redis-benchmark ${common.join(' ')} (${REQUESTS} requests; x4 with -P 16), median of ${RUNS} runs, side by side; Redis ${infoField(await ask(alone, 'INFO server'), 'redis_version')}\n`,
    );
    console.log('| configuration | op | placestore (3 places, --cluster) | redis alone | redis + replica |');
    console.log('|---|---|---|---|---|');
    for (const config of Object.keys(configs)) {
      for (const op of ['SET', 'GET']) {
        const field = config === '-c 1' ? 'p50' : 'rps';
        const cell = (store) => {
          const v = med(store, config, op, field);
          const errs = errorReplies[`${store}|${config}|${op}`];
          const note = errs > 0 ? ` (${errs} error replies)` : '';
          if (Number.isNaN(v)) return `failed${note}`;
          return (
            (field === 'rps' ? `${Math.round(v).toLocaleString('en')} ops/s` : `p50 ${v.toFixed(3)} ms`) +
            note
          );
        };
        console.log(
          `| ${config} | ${op} | ${cell('placestore')} | ${cell('redis alone')} | ${cell('redis + replica')} |`,
        );
      }
    }
    console.log('\n| target | configuration | placestore / redis alone |');
    console.log('|---|---|---|');
    for (const config of ['-c 50', '-c 50 -P 16']) {
      for (const [op, target] of [
        ['SET', 'replicated SET ≥ 0.5x, then 1x, unreplicated redis SET'],
        ['GET', 'GET ≥ 0.7x, then 1x, redis GET'],
      ]) {
        const ratio = med('placestore', config, op, 'rps') / med('redis alone', config, op, 'rps');
        console.log(`| ${target} | ${config} | ${ratio.toFixed(2)}x |`);
      }
    }
  }
  if (MEMORY_KEYS > 0) {
    // The same keys and values in each: placestore's growth in resident memory (3 places, primary and
    // backup copies) against Redis's used_memory growth (primary + replica).
    const rss = (pid) =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    const pids = cluster.places.map((p) => p.child.pid);
    const before = pids.reduce((s, pid) => s + rss(pid), 0);
    const used = async (port) => Number(infoField(await ask(port, 'INFO memory'), 'used_memory'));
    const redisBefore = (await used(primary)) + (await used(replica));
    const dbsize = async (port) => Number((await ask(port, 'DBSIZE')).slice(1));
    let placestoreKeysBefore = 0;
    for (let i = 0; i < 3; i++) placestoreKeysBefore += await dbsize(BASE_PORT + 20 + i);
    const redisKeysBefore = await dbsize(primary);
    // -r with as many requests as keys leaves some keys unwritten: DBSIZE counts the ones that are.
    const load = [
      '-d',
      '100',
      '-r',
      String(MEMORY_KEYS),
      '-n',
      String(MEMORY_KEYS * 3),
      '-c',
      '50',
      '-P',
      '16',
    ];
    benchmark([...stores.placestore, ...load, '-t', 'set,get']);
    benchmark([...stores['redis + replica'], ...load, '-t', 'set,get']);
    await waitFor('the replica to catch up', async () => {
      const a = Number((await ask(primary, 'DBSIZE')).slice(1));
      const b = Number((await ask(replica, 'DBSIZE')).slice(1));
      return a === b;
    });
    // Keys the load added (the speed runs wrote some already); redis-benchmark --cluster names keys per node.
    let placestoreKeys = -placestoreKeysBefore;
    for (let i = 0; i < 3; i++) placestoreKeys += await dbsize(BASE_PORT + 20 + i);
    const redisKeys = (await dbsize(primary)) - redisKeysBefore;
    const ours = (pids.reduce((s, pid) => s + rss(pid), 0) - before) / placestoreKeys;
    const theirs = ((await used(primary)) + (await used(replica)) - redisBefore) / redisKeys;
    console.log(
      `\nMemory per key added, ${placestoreKeys} keys of 100 bytes (redis-benchmark -r ${MEMORY_KEYS}): placestore ${Math.round(ours)} B (RSS growth of 3 places, primary + backup), Redis ${Math.round(theirs)} B (used_memory growth, primary + replica, ${redisKeys} keys): ${(ours / theirs).toFixed(2)}x (target ≤ 1.5x)`,
    );
  }
} finally {
  await stop();
}
