import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, runCli, startCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: ChildProcess;
let seeds: string[];
let port: number;

beforeAll(async () => {
  port = await freePorts(4);
  const started = await startCli(
    ['cluster', '--port', String(port), '--zones', 'a,b,c'],
    /^placestore ready seeds=/,
  );
  cluster = started.child;
  seeds = started.line.replace('placestore ready seeds=', '').trim().split(',');
});

afterAll(async () => {
  if (cluster) await stopChild(cluster);
});

const at = (i: number) => ['--seeds', seeds[i]];

describe('the command line against a local cluster', () => {
  it('prints the ready line with every place as a seed', () => {
    expect(seeds).toEqual([0, 1, 2, 3].map((i) => `127.0.0.1:${port + i}`));
  });

  it('put, get, cas, del and submit through the CLI, with the contract exit codes', async () => {
    expect((await runCli(['put', 'greeting', 'hello', ...at(0)])).code).toBe(0);
    const got = await runCli(['get', 'greeting', ...at(0)]);
    expect([got.code, got.stdout]).toEqual([0, 'hello\n']);
    const absent = await runCli(['get', 'no-such-key', ...at(0)]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/absent/);
    const swapped = await runCli(['cas', 'greeting', 'hello', 'bye', ...at(0)]);
    expect([swapped.code, swapped.stdout]).toEqual([0, 'true\n']);
    const notSwapped = await runCli(['cas', 'greeting', 'hello', 'again', ...at(0)]);
    expect([notSwapped.code, notSwapped.stdout]).toEqual([1, 'false\n']);
    const absentCas = await runCli(['cas', 'fresh', '--absent', 'first', ...at(0)]);
    expect([absentCas.code, absentCas.stdout]).toEqual([0, 'true\n']);
    expect((await runCli(['cas', 'fresh', '--absent', 'second', ...at(0)])).code).toBe(1);
    expect((await runCli(['del', 'greeting', ...at(0)])).code).toBe(0);
    expect((await runCli(['get', 'greeting', ...at(0)])).code).toBe(1);
    const inc = await runCli(['submit', 'visits', 'increment', '5', ...at(0)]);
    expect([inc.code, inc.stdout]).toEqual([0, '5\n']);
    const app = await runCli(['submit', 'log', 'append', 'ab', ...at(0)]);
    expect(app.stdout).toBe('ab\n');
  });

  it('reads through one seed what was written through another', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await runCli(['put', `cross-${i}`, `v${i}`, ...at(i % 3)])).code).toBe(0);
      const got = await runCli(['get', `cross-${i}`, ...at((i + 1) % 4)]);
      expect(got.stdout).toBe(`v${i}\n`);
    }
  });

  it('status --json has the contract shape: leader, deputy, balanced places, zone-aware partitions', async () => {
    const res = await runCli(['status', '--json', ...at(2)]);
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining([
        'valid',
        'invalidReason',
        'tableVersion',
        'leader',
        'deputy',
        'failureTimeoutMs',
        'places',
        'partitions',
      ]),
    );
    expect(s.valid).toBe(true);
    expect(s.invalidReason).toBeNull();
    expect(s.leader).toBe(0);
    expect(s.deputy).toBe(1);
    expect(s.failureTimeoutMs).toBe(1000);
    expect(s.places.map((p: { role: string }) => p.role)).toEqual(['leader', 'deputy', 'member', 'spare']);
    expect(Number.isInteger(s.places[0].loopBlockMs)).toBe(true);
    expect(s.places.map((p: { zone: string }) => p.zone)).toEqual(['a', 'b', 'c', 'a']);
    for (const p of s.places) {
      expect(Object.keys(p).sort()).toEqual(
        [
          'address',
          'backups',
          'http',
          'id',
          'loopBlockMs',
          'pid',
          'primaries',
          'resp',
          'role',
          'state',
          'zone',
        ].sort(),
      );
      // No --resp-port: no place serves Redis clients.
      expect(p.resp).toBe(null);
      expect(alive(p.pid)).toBe(true);
      // Each place's longest event-loop block lately, from its heartbeats (the leader's own at once).
      expect(p.loopBlockMs === null || Number.isInteger(p.loopBlockMs)).toBe(true);
    }
    const active = s.places.filter((p: { state: string }) => p.state === 'active');
    const primaries = active.map((p: { primaries: number }) => p.primaries);
    expect(Math.max(...primaries) - Math.min(...primaries)).toBeLessThanOrEqual(1);
    expect(s.places[3]).toMatchObject({ state: 'spare', primaries: 0, backups: 0 });
    expect(s.partitions).toHaveLength(271);
    const zoneOf = new Map(s.places.map((p: { id: number; zone: string }) => [p.id, p.zone]));
    for (const p of s.partitions) {
      expect(Object.keys(p).sort()).toEqual(['backup', 'epoch', 'id', 'primary', 'state', 'target']);
      expect(p.state).toBe('ok');
      expect(zoneOf.get(p.backup)).not.toBe(zoneOf.get(p.primary));
    }
    const human = await runCli(['status', ...at(0)]);
    expect(human.stdout).toMatch(/store valid/);
  });

  it('reads seeds from PLACESTORE_SEEDS', async () => {
    await runCli(['put', 'env-key', 'env-value', ...at(1)]);
    const res = await runCli(['get', 'env-key'], { env: { PLACESTORE_SEEDS: seeds[3] } });
    expect(res.stdout).toBe('env-value\n');
  });

  it('refuses oversized keys and values and unknown processors with exit 2, losing nothing', async () => {
    await runCli(['put', 'keep', 'kept', ...at(0)]);
    const bigKey = await runCli(['put', 'k'.repeat(2000), 'v', ...at(0)]);
    expect(bigKey.code).toBe(2);
    expect(bigKey.stderr).toMatch(/key of 2000 bytes exceeds the limit of 1024 bytes/);
    const bigValue = await runCli(['put', 'keep', '--stdin', ...at(0)], { stdin: 'v'.repeat(1_100_000) });
    expect(bigValue.code).toBe(2);
    expect(bigValue.stderr).toMatch(/value of \d+ bytes exceeds the limit of 1048576 bytes/);
    const unknown = await runCli(['submit', 'keep', 'nosuch', ...at(0)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown processor 'nosuch'/);
    expect((await runCli(['get', 'keep', ...at(0)])).stdout).toBe('kept\n');
  });

  it('SIGTERM stops every place and exits 0', async () => {
    const s = JSON.parse((await runCli(['status', '--json', ...at(0)])).stdout);
    const pids: number[] = s.places.map((p: { pid: number }) => p.pid);
    expect(await stopChild(cluster)).toBe(0);
    await waitUntil(() => pids.every((pid) => !alive(pid)), 10_000);
  });
});
