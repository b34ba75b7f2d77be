import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { LocalCluster } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;
const why = OPENSSL ? null : 'no openssl (Debian package openssl)';

let dir = '';
let cluster: LocalCluster | undefined;
const children: ChildProcess[] = [];
let port = 0;
let httpPort = 0;

beforeAll(async () => {
  if (!OPENSSL) return;
  dir = mkdtempSync(join(tmpdir(), 'placestore-tls-'));
  const r = await runCli(['certs', '--dir', join(dir, 'ok'), '--hosts', '127.0.0.1,localhost']);
  expect(r.code).toBe(0);
  expect((await runCli(['certs', '--dir', join(dir, 'other'), '--hosts', '127.0.0.1'])).code).toBe(0);
  port = await freePorts(8);
  httpPort = port + 4;
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port,
    httpPort,
    certsDir: join(dir, 'ok'),
    placeArgs: ['--partitions', '32'],
  });
}, 90_000);

afterAll(async () => {
  for (const c of children) await stopChild(c);
  await cluster?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const seeds = () => ['--seeds', cluster!.seeds.join(',')];

/** A dir with some of the `ok` cluster's files, under other names where asked. */
function certsDirWith(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [to, from] of Object.entries(files)) copyFileSync(join(dir, from), join(d, to));
  return d;
}

/** Tries a TLS 1.2 handshake; resolves with the error code it failed with, or 'connected'. */
function tls12(p: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: p,
      ca: readFileSync(join(dir, 'ok/ca.crt')),
      cert: readFileSync(join(dir, 'ok/client.crt')),
      key: readFileSync(join(dir, 'ok/client.key')),
      maxVersion: 'TLSv1.2',
    });
    s.on('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe.skipIf(why !== null)(`TLS${why === null ? '' : ` (skipped: ${why})`}`, () => {
  it('placestore certs writes a CA, a place and a client certificate, keys for their owner only, and replaces nothing unasked', async () => {
    const ok = join(dir, 'ok');
    for (const f of ['ca.key', 'place.key', 'client.key'])
      expect(statSync(join(ok, f)).mode & 0o777).toBe(0o600);
    const text = spawnSync('openssl', ['x509', '-in', join(ok, 'place.crt'), '-noout', '-text'], {
      encoding: 'utf8',
    }).stdout;
    expect(text).toMatch(/IP Address:127\.0\.0\.1, DNS:localhost/);
    expect(text).toMatch(/OU ?= ?place/);
    const again = await runCli(['certs', '--dir', ok, '--hosts', '127.0.0.1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds ca\.crt.*use --force/);
    const bad = await runCli(['certs', '--dir', join(dir, 'bad'), '--hosts', 'no such host!']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'no such host!' is neither an IP address nor a host name/);
  });

  it("a client with the cluster's certificates reads and writes", async () => {
    const tlsFlags = ['--certs-dir', join(dir, 'ok')];
    expect((await runCli(['put', 'k', 'v', ...seeds(), ...tlsFlags])).code).toBe(0);
    const got = await runCli(['get', 'k', ...seeds(), ...tlsFlags]);
    expect(got.stdout).toBe('v\n');
  });

  it('a client without TLS is refused with exit 5 and a message that says TLS is needed', async () => {
    const r = await runCli(['get', 'k', ...seeds(), '--timeout-ms', '3000']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/this place requires TLS 1\.3: connect with --certs-dir/);
  });

  it('a client without a certificate is refused with exit 5, unless its place takes clients without one', async () => {
    const caOnly = certsDirWith('ca-only', { 'ca.crt': 'ok/ca.crt' });
    const r = await runCli(['get', 'k', ...seeds(), '--certs-dir', caOnly, '--timeout-ms', '3000']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/requires a client certificate signed by its CA/);
    // A one-place cluster of its own with --client-certs optional takes it.
    const [p] = [await freePorts(1)];
    const lone = spawn(
      process.execPath,
      [
        CLI,
        'place',
        '--listen',
        `127.0.0.1:${p}`,
        '--min-places',
        '1',
        '--partitions',
        '8',
        '--certs-dir',
        join(dir, 'ok'),
        '--client-certs',
        'optional',
      ],
      { stdio: 'ignore' },
    );
    children.push(lone);
    await waitUntil(
      async () =>
        (
          await runCli([
            'put',
            'x',
            '1',
            '--seeds',
            `127.0.0.1:${p}`,
            '--certs-dir',
            caOnly,
            '--timeout-ms',
            '1000',
          ])
        ).code === 0,
      15_000,
      100,
    );
    expect((await runCli(['get', 'x', '--seeds', `127.0.0.1:${p}`, '--certs-dir', caOnly])).stdout).toBe(
      '1\n',
    );
    await stopChild(lone);
  });

  it("a client that does not trust the places' CA says why", async () => {
    const r = await runCli([
      'get',
      'k',
      ...seeds(),
      '--certs-dir',
      join(dir, 'other'),
      '--timeout-ms',
      '2000',
    ]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/lost: self-signed certificate in certificate chain/);
  });

  it("TLS 1.2 is refused on the places' port and on HTTPS", async () => {
    expect(await tls12(port)).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await tls12(httpPort)).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    const res = await new Promise<string>((resolve, reject) => {
      const s = tls.connect(
        { host: '127.0.0.1', port: httpPort, ca: readFileSync(join(dir, 'ok/ca.crt')) },
        () => {
          s.end('GET /health/live HTTP/1.0\r\n\r\n');
        },
      );
      let body = '';
      s.on('data', (d) => {
        body += d;
      });
      s.on('end', () => resolve(body));
      s.on('error', reject);
    });
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    expect(res).toContain('{"live":true}');
  });

  it('a place whose certificate another CA signed, or that shows a client certificate, cannot join', async () => {
    const fake = certsDirWith('fake-place', {
      'ca.crt': 'ok/ca.crt',
      'place.crt': 'ok/client.crt',
      'place.key': 'ok/client.key',
    });
    const [a, b] = [await freePorts(1), await freePorts(1)];
    const logs = ['', ''];
    const intruders = [
      [a, join(dir, 'other')],
      [b, fake],
    ].map(([p, certs], i) => {
      const c = spawn(
        process.execPath,
        [
          CLI,
          'place',
          '--listen',
          `127.0.0.1:${p}`,
          '--join',
          cluster!.seeds.join(','),
          '--certs-dir',
          String(certs),
          '--partitions',
          '32',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      c.stdout!.on('data', (d) => {
        logs[i] += d;
      });
      children.push(c);
      return c;
    });
    // Each tries to join, again and again, and is refused every time.
    await waitUntil(
      () => (logs[0]!.match(/self-signed certificate in certificate chain/g) ?? []).length >= 2,
      15_000,
      100,
    );
    await waitUntil(
      () =>
        (logs[1]!.match(/refused this place: a place must present a place certificate/g) ?? []).length >= 2,
      15_000,
      100,
    );
    const s = JSON.parse(
      (await runCli(['status', '--json', ...seeds(), '--certs-dir', join(dir, 'ok')])).stdout,
    );
    expect(s.places.map((p: { address: string }) => p.address)).toEqual(cluster!.seeds);
    for (const c of intruders) await stopChild(c);
  });

  it('SIGHUP reloads the certificates, and keeps the old ones when the new cannot be read', async () => {
    const victim = cluster!.places[2]!;
    const key = join(dir, 'ok/place.key');
    let before = readFileSync(victim.logFile, 'utf8').length;
    renameSync(key, `${key}.away`);
    victim.child.kill('SIGHUP');
    await waitUntil(
      () => readFileSync(victim.logFile, 'utf8').slice(before).includes('SIGHUP: kept the old certificates'),
      5_000,
      50,
    );
    renameSync(`${key}.away`, key);
    expect(
      (await runCli(['get', 'k', '--seeds', victim.address, '--certs-dir', join(dir, 'ok')])).stdout,
    ).toBe('v\n');
    before = readFileSync(victim.logFile, 'utf8').length;
    victim.child.kill('SIGHUP');
    await waitUntil(
      () => readFileSync(victim.logFile, 'utf8').slice(before).includes('reloaded the certificates in'),
      5_000,
      50,
    );
    // The place still serves, over new connections too.
    const r = await runCli(['get', 'k', '--seeds', victim.address, '--certs-dir', join(dir, 'ok')]);
    expect(r.stdout).toBe('v\n');
  });
});
