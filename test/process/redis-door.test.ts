import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster as IoCluster } from 'ioredis';
import { connect, LocalCluster, type StoreClient } from 'placestore';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';
import { encodeCommand, RawResp } from '../support/resp.js';

const has = (cmd: string) => spawnSync(cmd, ['--version']).status === 0;
const REDIS_SERVER = has('redis-server');
const REDIS_CLI = has('redis-cli');
const REDIS_BENCHMARK = spawnSync('redis-benchmark', ['--help']).error === undefined;
const noServer = REDIS_SERVER ? null : 'no redis-server (Debian package redis-server)';
const noCli = REDIS_CLI ? null : 'no redis-cli (Debian package redis-tools)';

let cluster: LocalCluster | undefined;
let client: StoreClient | undefined;
let respPort = 0;
let redisPort = 0;
let redis: ChildProcess | undefined;
let redisDir = '';
const raw: RawResp[] = [];

const resp = (i: number) => `127.0.0.1:${respPort + i}`;

beforeAll(async () => {
  const port = await freePorts(6);
  respPort = port + 3;
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port,
    respPort,
    placeArgs: ['--partitions', '32'],
  });
  client = await connect({ seeds: cluster.seeds });
  if (REDIS_SERVER) {
    // A one-node Redis Cluster: the same CROSSSLOT and SELECT rules as placestore's door.
    redisPort = await freePorts(1);
    redisDir = mkdtempSync(join(tmpdir(), 'placestore-redis-'));
    redis = spawn(
      'redis-server',
      [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
      ],
      { cwd: redisDir, stdio: 'ignore' },
    );
    await waitUntil(async () => {
      try {
        const c = await RawResp.connect(`127.0.0.1:${redisPort}`);
        raw.push(c);
        return (await c.call('PING')) === '+PONG\r\n';
      } catch {
        return false;
      }
    }, 10_000);
    const c = await RawResp.connect(`127.0.0.1:${redisPort}`);
    raw.push(c);
    expect(await c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')).toBe('+OK\r\n');
    await waitUntil(async () => (await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000);
  }
}, 90_000);

afterAll(async () => {
  for (const c of raw) c.close();
  await client?.close();
  await cluster?.stop();
  if (redis !== undefined) await stopChild(redis);
  if (redisDir !== '') rmSync(redisDir, { recursive: true, force: true });
});

/** Connections to the three places' RESP ports; a command goes to place 0 and follows MOVED. */
async function placestoreConnections(): Promise<RawResp[]> {
  const conns = await Promise.all([0, 1, 2].map((i) => RawResp.connect(resp(i))));
  raw.push(...conns);
  return conns;
}

async function following(conns: RawResp[], args: (string | Buffer)[]): Promise<Buffer> {
  let target = conns[0]!;
  for (let hop = 0; hop < 3; hop++) {
    target.send(...args);
    const r = (await target.reply())!;
    const moved = /^-MOVED \d+ 127\.0\.0\.1:(\d+)\r\n$/.exec(r.toString('latin1'));
    if (moved === null) return r;
    target = conns[Number(moved[1]) - respPort]!;
  }
  throw new Error(`more than 3 redirects for ${args.join(' ')}`);
}

/** A new connection to the RESP port of key's primary. */
async function primaryOf(key: string): Promise<RawResp> {
  const probe = await RawResp.connect(resp(0));
  const moved = /^-MOVED \d+ 127\.0\.0\.1:(\d+)/.exec(await probe.call('STRLEN', key));
  probe.close();
  const c = await RawResp.connect(resp(moved === null ? 0 : Number(moved[1]) - respPort));
  raw.push(c);
  return c;
}

describe('the Redis door against a real redis-server', () => {
  const commands: (string | Buffer)[][] = [
    ['SET', 'k1', 'v1'],
    ['GET', 'k1'],
    ['GET', 'missing'],
    ['SET', 'k1', 'v2', 'GET'],
    ['SET', 'k1', 'v3', 'NX'],
    ['SET', 'k1', 'v3', 'XX'],
    ['SET', 'k2', 'x', 'XX'],
    ['SET', 'k2', 'x', 'NX', 'GET'],
    ['SET', 'k1', 'a', 'NX', 'XX'],
    ['SET', 'k1', 'a', 'BOGUS'],
    ['SETNX', 'k3', '1'],
    ['SETNX', 'k3', '2'],
    ['GETSET', 'k3', '5'],
    ['GET', 'k3'],
    ['INCR', 'k3'],
    ['INCRBY', 'k3', '10'],
    ['DECR', 'k3'],
    ['DECRBY', 'k3', '4'],
    ['INCRBY', 'k3', 'x'],
    ['INCRBY', 'k3', '99999999999999999999'],
    ['INCR', 'k1'],
    ['INCR', 'counter'],
    ['SET', 'big', '9223372036854775807'],
    ['INCR', 'big'],
    ['APPEND', 'k4', 'ab'],
    ['APPEND', 'k4', 'cd'],
    ['STRLEN', 'k4'],
    ['STRLEN', 'nokey'],
    ['EXISTS', 'k4'],
    ['EXISTS', 'nokey'],
    ['DEL', 'k4'],
    ['DEL', 'k4'],
    ['UNLINK', 'k3'],
    ['MSET', '{t}a', '1', '{t}b', '2'],
    ['MGET', '{t}a', '{t}b', '{t}c'],
    ['MGET', 'a', 'b'],
    ['MSET', '{t}a'],
    ['EXISTS', '{t}a', '{t}a', '{t}c'],
    ['DEL', '{t}a', '{t}b', '{t}c'],
    ['GET'],
    ['NOSUCH', 'x', 'y'],
    ['PING'],
    ['PING', 'hi'],
    ['ECHO', 'e'],
    ['SELECT', '0'],
    ['SET', 'bin', Buffer.from([0, 255, 13, 10, 0xc3])],
    ['GET', 'bin'],
    ['APPEND', 'bin', Buffer.from([0xa9])],
    ['GET', 'bin'],
    ['SET', 'empty', ''],
    ['GET', 'empty'],
    ['TTL', 'empty'],
    ['TTL', 'nokey'],
    ['CLUSTER', 'KEYSLOT', 'somekey'],
    ['CLUSTER', 'KEYSLOT', '{user1000}.following'],
    ['CLUSTER', 'KEYSLOT', 'foo{}{bar}'],
    ['CLUSTER', 'KEYSLOT', 'x{}}y'],
    ['CLUSTER', 'KEYSLOT', Buffer.from([0x7b, 0xff, 0x7d, 0x61])],
    ['HELLO', '3'],
    ['GET', 'missing'],
    ['MGET', '{t}x', '{t}y'],
    ['SET', 'k5', 'v', 'XX', 'GET'],
  ];

  it.skipIf(noServer !== null)(
    'gives the same reply, byte for byte, to every command of the first set',
    async () => {
      const conns = await placestoreConnections();
      const real = await RawResp.connect(`127.0.0.1:${redisPort}`);
      raw.push(real);
      const differ: string[] = [];
      for (const args of commands) {
        const ours = await following(conns, args);
        real.send(...args);
        const theirs = (await real.reply())!;
        if (args[0] === 'HELLO') {
          // Server, version and id differ; the protocol switch is what matters.
          expect(ours.toString()).toMatch(/^%7\r\n/);
          for (const c of conns.slice(1)) expect(await c.call('HELLO', '3')).toMatch(/^%7\r\n/);
          continue;
        }
        if (!ours.equals(theirs))
          differ.push(
            `${args.map(String).join(' ')}: placestore ${JSON.stringify(ours.toString('latin1'))}, redis ${JSON.stringify(theirs.toString('latin1'))}`,
          );
      }
      expect(differ).toEqual([]);
    },
  );
});

describe('Redis Cluster routing', () => {
  it('answers a key at its primary, sends MOVED from every other place, backups included', async () => {
    const status = await client!.status();
    const places = status.places;
    expect(places.map((p) => p.resp)).toEqual([resp(0), resp(1), resp(2)]);
    const conns = await placestoreConnections();
    await client!.put('routed', 'native value');
    const slot = Number((await conns[0]!.call('CLUSTER', 'KEYSLOT', 'routed')).slice(1));
    const partition = Math.floor((slot * 32) / 16384);
    const a = status.partitions.find((p) => p.id === partition)!;
    const byId = (id: number | null) => places.findIndex((p) => p.id === id);
    const primary = byId(a.primary);
    const backup = byId(a.backup);
    expect(await conns[primary]!.call('GET', 'routed')).toBe('$12\r\nnative value\r\n');
    // The backup holds the value, but reads go to the primary: linearizable, as documented.
    expect(await conns[backup]!.call('READONLY')).toBe('+OK\r\n');
    expect(await conns[backup]!.call('GET', 'routed')).toBe(`-MOVED ${slot} ${resp(primary)}\r\n`);
    // CLUSTER SLOTS lists the range with its primary first, then its backup.
    const slots = await conns[backup]!.call('CLUSTER', 'SLOTS');
    const ports = [...slots.matchAll(/:(\d+)\r\n\$40\r\n/g)].map((m) => Number(m[1]) - respPort);
    expect(ports.length).toBeGreaterThan(0);
    expect(slots).toContain(`:${respPort + primary}\r\n`);
    expect(await conns[1]!.call('CLUSTER', 'MYID')).toMatch(/^\$40\r\n[0-9a-f]{40}\r\n$/);
    expect(await conns[0]!.call('CLUSTER', 'INFO')).toContain('cluster_state:ok');
    expect(await conns[0]!.call('INFO', 'persistence')).toContain('loading:0');
    expect(await conns[0]!.call('INFO')).toContain('cluster_enabled:1');
  });

  it('ioredis Cluster and node-redis write and read every key through any place; the native client sees the same values', async () => {
    const io = new IoCluster([{ host: '127.0.0.1', port: respPort + 2 }], { scaleReads: 'master' });
    const nr = createCluster({ rootNodes: [{ url: `redis://${resp(1)}` }] });
    nr.on('error', () => {});
    try {
      await nr.connect();
      for (let i = 0; i < 200; i++) await io.set(`io:${i}`, `v${i}`);
      for (let i = 0; i < 200; i++) expect(await nr.get(`io:${i}`)).toBe(`v${i}`);
      for (let i = 0; i < 50; i++) expect(await nr.incrBy(`n:${i % 5}`, 2)).toBe(2 * (Math.floor(i / 5) + 1));
      expect(await io.get('n:3')).toBe('20');
      expect(await client!.get('io:123')).toBe('v123');
      await client!.put('from-native', 'ünïcode');
      expect(await io.get('from-native')).toBe('ünïcode');
      await client!.put('native-number', 42);
      await expect(io.get('native-number')).rejects.toThrow(/WRONGTYPE/);
      await io.set('bytes', Buffer.from([0xff, 0xfe]));
      expect(Buffer.from((await client!.get('bytes')) as Uint8Array)).toEqual(Buffer.from([0xff, 0xfe]));
      await expect(io.mget('x', 'y')).rejects.toThrow(/CROSSSLOT/);
      expect(await io.mget('{u}x', '{u}y')).toEqual([null, null]);
      await expect(io.set('ttl', 'v', 'EX', 10)).rejects.toThrow(/no expiry yet/);
    } finally {
      io.disconnect();
      await nr.close().catch(() => {});
    }
  });

  it.skipIf(noCli !== null)('redis-cli -c follows redirects from any place', () => {
    for (let i = 0; i < 20; i++) {
      const r = spawnSync('redis-cli', ['-c', '-p', String(respPort + (i % 3)), 'SET', `cli:${i}`, `x${i}`], {
        encoding: 'utf8',
      });
      expect(r.stdout.trim()).toBe('OK');
    }
    for (let i = 0; i < 20; i++) {
      const r = spawnSync('redis-cli', ['-c', '-p', String(respPort + ((i + 1) % 3)), 'GET', `cli:${i}`], {
        encoding: 'utf8',
      });
      expect(r.stdout.trim()).toBe(`x${i}`);
    }
  });

  it.skipIf(!REDIS_BENCHMARK)(
    'redis-benchmark --cluster runs SET and GET against the places without errors',
    () => {
      const r = spawnSync(
        'redis-benchmark',
        [
          '--cluster',
          '-p',
          String(respPort),
          '-t',
          'set,get',
          '-n',
          '3000',
          '-c',
          '6',
          '-r',
          '1000',
          '--csv',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/Error from server/);
      const rows = r.stdout.split('\n').filter((l) => /^"(SET|GET)"/.test(l));
      expect(rows.map((l) => l.split(',')[0])).toEqual(['"SET"', '"GET"']);
      for (const row of rows) expect(Number(row.split(',')[1]!.replace(/"/g, ''))).toBeGreaterThan(0);
    },
  );
});

describe('bad input on the RESP port', () => {
  it('answers an unknown command, a wrong arity and a bad value with an error, and the link goes on', async () => {
    const c = await RawResp.connect(resp(0));
    raw.push(c);
    expect(await c.call('FLUSHALL')).toBe("-ERR unknown command 'FLUSHALL', with args beginning with: \r\n");
    expect(await c.call('SET', 'x')).toBe("-ERR wrong number of arguments for 'set' command\r\n");
    expect(await c.call('GET', Buffer.from([0xff]))).toMatch(/^-ERR placestore keys must be valid UTF-8/);
    const tooBig = Buffer.alloc(1024 * 1024 + 1, 'a');
    const conns = await placestoreConnections();
    expect((await following(conns, ['SET', '{k}big', tooBig])).toString()).toMatch(
      /^-ERR value of 1048582 bytes exceeds the limit of 1048576 bytes/,
    );
    // A multi-key command over a limit is refused whole: nothing of it is stored.
    expect((await following(conns, ['MSET', '{k}a', '1', '{k}b', tooBig])).toString()).toMatch(
      /^-ERR value of \d+ bytes exceeds the limit/,
    );
    expect((await following(conns, ['EXISTS', '{k}a', '{k}b'])).toString()).toBe(':0\r\n');
    c.write('PING "unbalanced\r\n');
    expect((await c.reply())!.toString()).toBe('-ERR Protocol error: unbalanced quotes in request\r\n');
    // Inline commands, as redis-cli and telnet users send them.
    c.write('ECHO "a b"\r\n');
    expect((await c.reply())!.toString()).toBe('$3\r\na b\r\n');
  });

  it('closes the link after a malformed frame, with the reason', async () => {
    const c = await RawResp.connect(resp(1));
    raw.push(c);
    c.write('*1\r\n$abc\r\n');
    expect((await c.reply())!.toString()).toBe('-ERR Protocol error: invalid bulk length\r\n');
    expect(await c.reply()).toBe(null);
  });

  it('a client pipelining far more than a turn can take gets every reply (it waits for turns, and for its replies to be read)', async () => {
    const c = await RawResp.connect(resp(2));
    const other = await RawResp.connect(resp(2));
    raw.push(c, other);
    const n = 150_000;
    c.write(Buffer.from('PING\r\n'.repeat(n)));
    // Another client is served meanwhile.
    expect(await other.call('ECHO', 'still here')).toBe('$10\r\nstill here\r\n');
    let pongs = 0;
    for (let i = 0; i < n; i++) if ((await c.reply(20_000))!.toString() === '+PONG\r\n') pongs++;
    expect(pongs).toBe(n);
  });

  it('answers pipelined commands in order when their partitions answer out of order', async () => {
    const c = await RawResp.connect(resp(0));
    raw.push(c);
    const n = 400;
    // Writes wait for a backup, reads and ECHO do not: each reply names its command.
    const batch: Buffer[] = [];
    for (let i = 0; i < n; i++)
      batch.push(encodeCommand(i % 2 === 0 ? ['INCRBY', `p:${i}`, `${i + 1}`] : ['ECHO', `${i}`]));
    c.write(Buffer.concat(batch));
    let served = 0;
    for (let i = 0; i < n; i++) {
      const r = (await c.reply())!.toString();
      if (i % 2 === 1) expect(r).toBe(`$${String(i).length}\r\n${i}\r\n`);
      else if (!r.startsWith('-MOVED')) {
        expect(r).toBe(`:${i + 1}\r\n`);
        served++;
      }
    }
    expect(served).toBeGreaterThan(20);
  });

  it('a reply keeps the protocol of its command, whatever HELLO came after it', async () => {
    const c = await primaryOf('x');
    c.write(
      Buffer.concat([
        encodeCommand(['GET', 'x']),
        encodeCommand(['HELLO', '3']),
        encodeCommand(['GET', 'x']),
      ]),
    );
    expect((await c.reply())!.toString()).toBe('$-1\r\n');
    expect((await c.reply())!.toString()).toMatch(/^%7\r\n/);
    expect((await c.reply())!.toString()).toBe('_\r\n');
  });

  it('a client that half-closes after its command still gets the reply', async () => {
    const c = await primaryOf('half');
    c.socket.end(encodeCommand(['SET', 'half', 'closed']));
    expect((await c.reply())!.toString()).toBe('+OK\r\n');
    expect(await c.reply()).toBe(null);
  });
});

describe('a lease that lapses for a moment', () => {
  let slow: LocalCluster | undefined;
  let slowResp = 0;
  let leaderPid = 0;

  afterAll(async () => {
    if (leaderPid !== 0) {
      try {
        process.kill(leaderPid, 'SIGCONT');
      } catch {}
    }
    await slow?.stop();
  });

  it('holds a request (and the ones after it) until the lease is back, instead of answering CLUSTERDOWN', async () => {
    const port = await freePorts(6);
    slowResp = port + 3;
    slow = await LocalCluster.start({
      places: 3,
      spares: 0,
      port,
      respPort: slowResp,
      placeArgs: ['--partitions', '16', '--failure-timeout-ms', '3000'],
    });
    const status = await slow.status();
    const leader = status.places.find((p) => p.role === 'leader')!;
    const other = status.places.findIndex((p) => p.role !== 'leader');
    const c = await RawResp.connect(`127.0.0.1:${slowResp + other}`);
    raw.push(c);
    let key = '';
    for (let i = 0; key === '' && i < 500; i++)
      if (!(await c.call('STRLEN', `own${i}`)).startsWith('-MOVED')) key = `own${i}`;
    expect(key).not.toBe('');
    // With the leader stopped, this place's lease lapses within half a failure timeout.
    leaderPid = leader.pid;
    process.kill(leaderPid, 'SIGSTOP');
    const stoppedAt = Date.now();
    let held: Promise<Buffer | null> | null = null;
    for (let n = 0; held === null && Date.now() - stoppedAt < 2400; n++) {
      c.send('SET', key, `v${n}`);
      const reply = c.reply(10_000);
      const quick = await Promise.race([reply, new Promise<null>((r) => setTimeout(() => r(null), 300))]);
      if (quick === null) held = reply;
      else expect(quick.toString()).toBe('+OK\r\n');
    }
    expect(held).not.toBe(null);
    c.send('GET', key);
    process.kill(leaderPid, 'SIGCONT');
    leaderPid = 0;
    expect((await held!)!.toString()).toBe('+OK\r\n');
    expect((await c.reply(10_000))!.toString()).toMatch(/^\$\d+\r\nv\d+\r\n$/);
  }, 60_000);
});
