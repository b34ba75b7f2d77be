import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, LocalCluster, type StoreClient } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

const PROMTOOL = spawnSync('promtool', ['--version']).status === 0;

let cluster: LocalCluster | undefined;
let client: StoreClient | undefined;
let httpPort = 0;
let seeds: string[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  const port = await freePorts(6);
  httpPort = port + 3;
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port,
    httpPort,
    placeArgs: ['--partitions', '32'],
  });
  seeds = cluster.seeds;
  client = await connect({ seeds });
}, 60_000);

afterAll(async () => {
  for (const c of children) await stopChild(c);
  await client?.close();
  await cluster?.stop();
});

const url = (i: number, path: string) => `http://127.0.0.1:${httpPort + i}${path}`;

async function text(i: number, path: string): Promise<string> {
  const res = await fetch(url(i, path));
  expect(res.status).toBe(200);
  return res.text();
}

describe('a place over HTTP', () => {
  it('/metrics counts each operation by kind and result at the place that answered it', async () => {
    for (let i = 0; i < 30; i++) await client!.put(`m${i}`, i);
    for (let i = 0; i < 30; i++) await client!.get(`m${i}`);
    const res = await fetch(url(0, '/metrics'));
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    let puts = 0;
    let gets = 0;
    let timed = 0;
    let answered = 0;
    for (let i = 0; i < 3; i++) {
      const body = await text(i, '/metrics');
      puts += Number(/^placestore_ops_total\{op="put",result="ok"\} (\d+)$/m.exec(body)?.[1] ?? 0);
      gets += Number(/^placestore_ops_total\{op="get",result="ok"\} (\d+)$/m.exec(body)?.[1] ?? 0);
      for (const m of body.matchAll(/^placestore_ops_total\{op="put",result="[a-z_]+"\} (\d+)$/gm))
        answered += Number(m[1]);
      timed += Number(/^placestore_op_duration_seconds_count\{op="put"\} (\d+)$/m.exec(body)?.[1] ?? 0);
      expect(body).toMatch(/^placestore_partitions\{role="primary"\} \d+$/m);
      expect(body).toMatch(/^placestore_table_version \d+$/m);
      expect(body).toMatch(/^process_cpu_seconds_total /m);
    }
    // Every operation succeeded once, at its primary: the three places' counters add up to the calls.
    // (A place may also have refused one, 'unavailable' say, which the client retried: it counts
    // under that result, and its time too.)
    expect(puts).toBe(30);
    expect(gets).toBe(30);
    expect(timed).toBe(answered);
    const leader = await text(0, '/metrics');
    expect(leader).toMatch(/^placestore_is_leader 1$/m);
    expect(await text(1, '/metrics')).toMatch(/^placestore_is_leader 0$/m);
    expect(leader).toMatch(/^placestore_events_total\{event="place_joined"\} 2$/m);
  });

  it.skipIf(!PROMTOOL)(
    `promtool check metrics accepts /metrics${PROMTOOL ? '' : ' (skipped: no promtool, Debian package prometheus)'}`,
    async () => {
      const body = await text(0, '/metrics');
      const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
  );

  it("/api/status is the status --json of the place it asks, with every place's HTTP address", async () => {
    const fromHttp = JSON.parse(await text(1, '/api/status'));
    const fromCli = JSON.parse((await runCli(['status', '--json', '--seeds', seeds.join(',')])).stdout);
    expect(fromHttp.leader).toBe(fromCli.leader);
    expect(fromHttp.partitions).toEqual(fromCli.partitions);
    expect(fromHttp.places.map((p: { http: string }) => p.http)).toEqual(
      [0, 1, 2].map((i) => `127.0.0.1:${httpPort + i}`),
    );
    expect(fromCli.places.map((p: { http: string }) => p.http)).toEqual(
      fromHttp.places.map((p: { http: string }) => p.http),
    );
  });

  it('/api/events serves the ring from a number on; a bad number is a 400 that says why', async () => {
    const all = JSON.parse(await text(0, '/api/events'));
    expect(all.events.length).toBeGreaterThan(2);
    expect(all.events.map((e: { seq: number }) => e.seq)).toEqual(
      all.events.map((_: unknown, i: number) => i + 1),
    );
    expect(all.next).toBe(all.events.length + 1);
    expect(
      all.events
        .filter((e: { event: string }) => e.event === 'place_joined')
        .map((e: { id: number }) => e.id),
    ).toEqual([1, 2]);
    const later = JSON.parse(await text(0, '/api/events?since=3'));
    expect(later.events[0].seq).toBe(3);
    const bad = await fetch(url(0, '/api/events?since=-1'));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/since must be a whole number/);
  });

  it('health: live, and ready once every partition it holds has an in-sync backup', async () => {
    expect(JSON.parse(await text(2, '/health/live'))).toEqual({ live: true });
    expect(JSON.parse(await text(2, '/health/ready'))).toEqual({ ready: true, reasons: [] });
  });

  it('an unknown path is a 404 naming the endpoints; anything but GET is a 405', async () => {
    const missing = await fetch(url(0, '/nope'));
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toMatch(/no such endpoint '\/nope'; try \/, \/metrics/);
    const post = await fetch(url(0, '/metrics'), { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it("the JSON may be read cross-origin only by the cluster's own dashboards", async () => {
    const own = await fetch(url(0, '/api/stats'), {
      headers: { origin: `http://127.0.0.1:${httpPort + 1}` },
    });
    expect(own.headers.get('access-control-allow-origin')).toBe(`http://127.0.0.1:${httpPort + 1}`);
    const other = await fetch(url(0, '/api/status'), { headers: { origin: 'http://evil.example' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('the dashboard and uPlot are served from the package', async () => {
    expect(await text(0, '/')).toMatch(/<title>placestore<\/title>/);
    expect((await text(0, '/vendor/uPlot.iife.min.js')).length).toBeGreaterThan(10_000);
  });
});

describe('the log', () => {
  it('has one JSON line per event, with `event`, its fields and the reporting place', async () => {
    const lines = readFileSync(cluster!.places[0]!.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const joins = lines.filter((l) => l.event === 'place_joined');
    expect(joins.map((l) => [l.id, l.address, l.placeId, l.level])).toEqual([
      [1, seeds[1], 0, 30],
      [2, seeds[2], 0, 30],
    ]);
    expect(joins[0].msg).toBe(`place 1 (${seeds[1]}) joined as a member`);
    expect(lines.some((l) => l.event === 'table_committed' && Array.isArray(l.changes))).toBe(true);
  });
});

describe('terminal views', () => {
  it("placestore events prints every place's events merged by time; --json one object per line", async () => {
    const r = await runCli(['events', '--seeds', seeds.join(',')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/place 0 +place_joined +place 2 \(127\.0\.0\.1:\d+\) joined as a member/);
    const json = await runCli(['events', '--json', '--seeds', seeds.join(',')]);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const times = events.map((e) => e.time);
    expect(times).toEqual([...times].sort());
    expect(events.some((e) => e.event === 'table_committed' && e.place === 0)).toBe(true);
  });

  it('placestore events --follow prints new events as they happen', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'events', '--follow', '--interval-ms', '100', '--seeds', seeds.join(',')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    await waitUntil(() => out.includes('place_joined'), 10_000, 50);
    // A spare joins: its join is a new event, printed without asking again.
    const port = await freePorts(1);
    const spare = spawn(
      process.execPath,
      [
        CLI,
        'place',
        '--listen',
        `127.0.0.1:${port}`,
        '--spare',
        '--join',
        seeds.join(','),
        '--partitions',
        '32',
      ],
      {
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    children.push(spare);
    await waitUntil(
      () => new RegExp(`place 3 \\(127\\.0\\.0\\.1:${port}\\) joined as spare`).test(out),
      15_000,
      50,
    );
    expect(await stopChild(child)).toBe(0);
    await stopChild(spare);
  });

  it('status --watch refreshes; --count bounds it', async () => {
    const r = await runCli([
      'status',
      '--watch',
      '--count',
      '2',
      '--interval-ms',
      '100',
      '--seeds',
      seeds.join(','),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/gm)).toHaveLength(2);
    expect(r.stdout.match(/^store valid/gm)).toHaveLength(2);
    const json = await runCli([
      'status',
      '--watch',
      '--json',
      '--count',
      '2',
      '--interval-ms',
      '100',
      '--seeds',
      seeds.join(','),
    ]);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).valid),
    ).toEqual([true, true]);
  });

  it('a bad --http-listen is a usage error that names the flag', async () => {
    const r = await runCli(['place', '--listen', '127.0.0.1:1', '--http-listen', 'nowhere']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--http-listen: invalid address "nowhere"/);
  });
});
