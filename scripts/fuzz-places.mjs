// Throws junk and forged messages at every place of a local cluster, as a stranger would, then checks
// that every place is still up, the store valid and its data intact, and that memory stayed flat.
// Usage: npm run build && node scripts/fuzz-places.mjs [--frames N per place] [--places 3] [--seed S] [--port P]
// Prints progress to stderr and one JSON line to stdout; exits 0 when everything held, 1 otherwise.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Packr } from 'msgpackr';
import { connect, LocalCluster } from '../dist/index.js';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((a) => a.trim().split(/\s+/)),
);
const framesPerPlace = Number(args.frames ?? 100_000);
const places = Number(args.places ?? 3);
const port = Number(args.port ?? 7950);
let state = Number(args.seed ?? 1) >>> 0 || 1;
/** xorshift32: the same frames for the same seed. */
function random() {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 2 ** 32;
}
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const int = (n) => Math.floor(random() * n);
const packr = new Packr({ useRecords: false });

function frame(payload) {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

const HUGE = [0, 1, 2 ** 31, 2 ** 53 - 1, -1, 1e300, Number.NaN];
function randomValue(depth = 0) {
  switch (int(depth > 2 ? 5 : 8)) {
    case 0:
      return pick(HUGE);
    case 1:
      return 'x'.repeat(int(64));
    case 2:
      return null;
    case 3:
      return random() < 0.5;
    case 4:
      return Buffer.alloc(int(32), int(256));
    case 5:
      return Array.from({ length: int(6) }, () => randomValue(depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: int(6) }, () => [pick(FIELDS), randomValue(depth + 1)]));
  }
}
const TYPES = [
  'op',
  'tableGet',
  'status',
  'hb',
  'hbAck',
  'tablePush',
  'tableAck',
  'tableUpdate',
  'table',
  'vote',
  'voteReply',
  'invalid',
  'join',
  'joined',
  'repl',
  'replBatch',
  'replAcks',
  'replReject',
  'snap',
  'snapAck',
  'copied',
  'handedOver',
  'err',
  'hello',
  'ka',
  'kb',
  'launch-missiles',
];
const FIELDS = [
  't',
  'id',
  'tv',
  'term',
  'k',
  'v',
  'o',
  'c',
  'lo',
  'r',
  'p',
  'e',
  's',
  'es',
  'table',
  'lead',
  'ts',
  'lr',
  'reason',
  'members',
  'partitions',
  'version',
  'kv',
  'rs',
  'sw',
];

/** A message of a known type with random fields: mostly malformed, now and then well formed. */
function forged() {
  const t = pick(TYPES);
  const m = { t };
  for (let i = int(8); i > 0; i--) m[pick(FIELDS)] = randomValue();
  m.t = t;
  if (t === 'op' && random() < 0.5)
    Object.assign(m, {
      id: int(1e6),
      c: 'fuzz',
      tv: 0,
      o: pick(['get', 'put', 'cas', 'del', 'submit', 'nuke']),
      k: 'fuzz-key',
    });
  if (t === 'invalid') Object.assign(m, { tv: 2 ** 40, term: 2 ** 40, reason: 'forged' });
  return m;
}

/** One burst on a fresh connection: junk and malformed frames, then possibly a forged message (which closes a client's connection). */
function burst(asPlace) {
  const out = [];
  let n = 0;
  // A place's connection names where it listens: a stranger's address, or a member's (read from
  // status), as one would who wants its forgeries taken.
  if (asPlace) {
    const from = random() < 0.5 ? pick(cluster.seeds) : `10.0.0.${int(255)}:7400`;
    out.push(frame(packr.pack({ t: 'hello', lane: pick(['control', 'data']), role: 'place', from })));
  }
  for (let i = 0; i < 50; i++) {
    const kind = int(10);
    if (kind < 3) out.push(frame(Buffer.from(Array.from({ length: int(64) }, () => int(256)))));
    else if (kind < 5) out.push(frame(packr.pack(randomValue())));
    else out.push(frame(packr.pack(forged())));
    n++;
  }
  // Now and then a frame cut short, or a length prefix past the limit: the connection ends there.
  if (random() < 0.1) {
    const whole = frame(packr.pack(forged()));
    out.push(whole.subarray(0, Math.max(1, whole.length - 1 - int(4))));
    n++;
  } else if (random() < 0.05) {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffff00);
    out.push(header);
    n++;
  }
  return { bytes: Buffer.concat(out), frames: n };
}

function send(address, bytes) {
  const [host, p] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve) => {
    const socket = net.connect(p, host);
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('data', () => {});
    socket.setTimeout(2000, () => socket.destroy());
    socket.end(bytes);
  });
}

function rssBytes(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return line ? Number(line[1]) * 1024 : Number.NaN;
}

const started = performance.now();
const cluster = await LocalCluster.start({ places, spares: 0, port });
const store = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
const result = { framesPerPlace, places, seed: Number(args.seed ?? 1) };
try {
  const keys = 200;
  for (let i = 0; i < keys; i++) await store.put(`key-${i}`, { i, pad: 'v'.repeat(100) });
  const before = await store.status();
  const pids = before.places.map((p) => p.pid);
  const rss = [];
  let sent = 0;
  let lastReport = performance.now();
  const total = framesPerPlace * places;
  while (sent < total) {
    // One burst at every place at once, a place's connection or a client's.
    const bursts = cluster.seeds.map((address) => ({ address, ...burst(random() < 0.3) }));
    await Promise.all(bursts.map((b) => send(b.address, b.bytes)));
    for (const b of bursts) sent += b.frames;
    if (rss.length === 0 && sent >= total * 0.2) rss.push(pids.map(rssBytes));
    if (performance.now() - lastReport > 2000) {
      lastReport = performance.now();
      process.stderr.write(`fuzz: ${sent}/${total} frames\n`);
    }
  }
  rss.push(pids.map(rssBytes));
  const after = await store.status();
  const values = await Promise.all(Array.from({ length: keys }, (_, i) => store.get(`key-${i}`)));
  const intact = values.every((v, i) => v?.i === i);
  await store.put('after-fuzz', 1);
  const alive = pids.every((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  const growthMiB = rss[1].map((b, i) => Math.round((b - rss[0][i]) / 2 ** 20));
  Object.assign(result, {
    frames: sent,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    alive,
    valid: after.valid,
    everyPlaceActive: after.places.every((p) => p.state === 'active'),
    sameTerm: after.term === before.term,
    intact,
    writable: (await store.get('after-fuzz')) === 1,
    rssMiB: rss[1].map((b) => Math.round(b / 2 ** 20)),
    rssGrowthMiBFrom20Percent: growthMiB,
  });
  result.ok =
    alive &&
    after.valid &&
    result.everyPlaceActive &&
    intact &&
    result.writable &&
    growthMiB.every((g) => g < 64);
} catch (err) {
  // The store broke under the fuzz (invalid, unavailable, a place gone): say how.
  result.ok = false;
  result.error = `${err?.name}: ${err?.message}`;
} finally {
  await store.close();
  await cluster.stop();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exitCode = result.ok ? 0 : 1;
