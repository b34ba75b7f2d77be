import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

describe('command line usage errors', () => {
  it('exits 2 with one readable line for unknown commands, unknown flags and bad values', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['get'], /missing required argument 'key'/],
      [['get', 'k', '--bogus'], /unknown option '--bogus'/],
      [['get', 'k', '--timeout-ms', 'soon'], /'soon' is not a whole number/],
      [['get', 'k', '--seeds', 'localhost'], /--seeds.*localhost/],
      [['cluster', '--places', '0'], /0 is out of range/],
      [['place'], /required option '--listen <host:port>' not specified/],
      [['place', '--listen', '127.0.0.1:99999'], /99999/],
      [['place', '--listen', '127.0.0.1:7400', '--max-outcomes-per-partition', '5'], /5 is out of range/],
      [['bench', '--op', 'explode'], /Allowed choices are put, get, mixed, cas/],
      [['cas', 'k', 'only-one'], /cas takes KEY EXPECTED NEW/],
      [['put', 'k'], /put takes KEY VALUE, or KEY with --stdin/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('bad PLACESTORE_SEEDS is a usage error', async () => {
    const res = await runCli(['get', 'k'], { env: { PLACESTORE_SEEDS: 'nonsense' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/PLACESTORE_SEEDS/);
  });

  it('exits 4 when no place answers in time', async () => {
    const port = await freePorts(1);
    const res = await runCli(['get', 'k', '--seeds', `127.0.0.1:${port}`, '--timeout-ms', '300']);
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/no place answered within 300 ms/);
  });

  it('a place that cannot listen says so and exits non-zero', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const res = await runCli(['place', '--listen', `127.0.0.1:${port}`]);
      expect(res.code).toBe(4);
      expect(res.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}`));
    } finally {
      blocker.close();
    }
  });

  it('--help lists the commands and every place flag', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of ['place', 'cluster', 'put', 'get', 'cas', 'del', 'submit', 'status', 'bench']) {
      expect(top.stdout).toMatch(new RegExp(`\\n  ${cmd} `));
    }
    const place = await runCli(['place', '--help']);
    for (const flag of [
      '--listen',
      '--join',
      '--spare',
      '--zone',
      '--partitions',
      '--min-places',
      '--failure-timeout-ms',
      '--max-requests-in-flight',
      '--max-copies-in-flight',
      '--processors',
    ]) {
      expect(place.stdout).toContain(flag);
    }
  });

  it('--processors with a missing module is a usage error', async () => {
    const port = await freePorts(1);
    const res = await runCli(['place', '--listen', `127.0.0.1:${port}`, '--processors', '/no/such/file.mjs']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--processors \/no\/such\/file.mjs: cannot load module/);
  });
});
