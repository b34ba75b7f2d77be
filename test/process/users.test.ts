import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Cluster as IoCluster } from 'ioredis';
import { Packr, Unpackr } from 'msgpackr';
import { AuthError, connect, LocalCluster } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;
const why = OPENSSL ? null : 'no openssl (Debian package openssl)';

let dir = '';
let usersFile = '';
let certs = '';
let cluster: LocalCluster | undefined;
let respPort = 0;

async function addUser(name: string, role: string, password: string, extra: string[] = []) {
  const r = await runCli(
    ['users', 'add', name, '--role', role, '--file', usersFile, '--password-stdin', ...extra],
    {
      stdin: `${password}\n`,
    },
  );
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  if (!OPENSSL) return;
  dir = mkdtempSync(join(tmpdir(), 'placestore-users-'));
  usersFile = join(dir, 'users.json');
  certs = join(dir, 'certs');
  expect((await runCli(['certs', '--dir', certs, '--hosts', '127.0.0.1'])).code).toBe(0);
  await addUser('ada', 'admin', 'ada-pw');
  await addUser('wes', 'write', 'wes-pw');
  await addUser('rae', 'read', 'rae-pw');
  const port = await freePorts(6);
  respPort = port + 3;
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port,
    certsDir: certs,
    respPort,
    placeArgs: ['--partitions', '32', '--users-file', usersFile],
    login: { user: 'ada', password: 'ada-pw' },
  });
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** Runs a client command as user (password in PLACESTORE_PASSWORD). */
function as(user: string | null, password: string, args: string[]) {
  const login = user === null ? [] : ['--user', user];
  return runCli([...args, '--seeds', cluster!.seeds.join(','), '--certs-dir', certs, ...login], {
    env: { PLACESTORE_PASSWORD: password },
  });
}

describe.skipIf(why !== null)(`users and roles${why === null ? '' : ` (skipped: ${why})`}`, () => {
  it('write may write, read may only read (exit 5 and why), admin may do both', async () => {
    expect((await as('wes', 'wes-pw', ['put', 'k', 'v1'])).code).toBe(0);
    expect((await as('rae', 'rae-pw', ['get', 'k'])).stdout).toBe('v1\n');
    expect((await as('rae', 'rae-pw', ['status'])).code).toBe(0);
    for (const cmd of [
      ['put', 'k', 'v2'],
      ['del', 'k'],
      ['cas', 'k', 'v1', 'v2'],
      ['submit', 'n', 'increment'],
    ]) {
      const r = await as('rae', 'rae-pw', cmd);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(new RegExp(`user 'rae' has role read, which may not ${cmd[0]}`));
    }
    expect((await as('ada', 'ada-pw', ['put', 'k', 'v3'])).code).toBe(0);
    expect((await as('rae', 'rae-pw', ['get', 'k'])).stdout).toBe('v3\n');
  });

  it('a wrong password, an unknown user or no user at all exits 5 with a clear message', async () => {
    const wrong = await as('wes', 'not-it', ['get', 'k']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toMatch(/wrong user name or password/);
    expect((await as('nobody', 'x', ['get', 'k'])).code).toBe(5);
    const none = await as(null, '', ['get', 'k']);
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(/this cluster has users: log in first/);
    const noPassword = await runCli(
      ['get', 'k', '--seeds', cluster!.seeds[0]!, '--certs-dir', certs, '--user', 'wes'],
      {
        env: { PLACESTORE_PASSWORD: '' },
      },
    );
    expect(noPassword.code).toBe(5);
    expect(noPassword.stderr).toMatch(/no password for user 'wes'/);
  });

  it('the password can come from standard input', async () => {
    const r = await runCli(
      ['get', 'k', '--seeds', cluster!.seeds[0]!, '--certs-dir', certs, '--user', 'rae', '--password-stdin'],
      {
        stdin: 'rae-pw\n',
        env: { PLACESTORE_PASSWORD: '' },
      },
    );
    expect(r.stdout).toBe('v3\n');
  });

  it('the library: connect({ user, password }); a refused call rejects with AuthError', async () => {
    const c = await connect({
      seeds: cluster!.seeds,
      tls: { certsDir: certs },
      user: 'rae',
      password: 'rae-pw',
    });
    try {
      expect(await c.get('k')).toBe('v3');
      const err = await c.put('k', 'no').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).code).toBe('unauthorized');
    } finally {
      await c.close();
    }
    await expect(
      connect({
        seeds: cluster!.seeds,
        tls: { certsDir: certs },
        user: 'rae',
        password: 'nope',
        timeoutMs: 3000,
      }),
    ).rejects.toThrow(/wrong user name or password/);
  });

  it('no password reaches a log; SIGHUP loads users added since', async () => {
    for (const p of cluster!.places) {
      const log = readFileSync(p.logFile, 'utf8');
      for (const pw of ['ada-pw', 'wes-pw', 'rae-pw', 'not-it']) expect(log).not.toContain(pw);
    }
    await addUser('neo', 'write', 'neo-pw');
    expect((await as('neo', 'neo-pw', ['put', 'n', '1'])).code).toBe(5);
    for (const p of cluster!.places) p.child.kill('SIGHUP');
    await waitUntil(
      () => cluster!.places.every((p) => readFileSync(p.logFile, 'utf8').includes('reloaded 4 users from')),
      5_000,
      50,
    );
    expect((await as('neo', 'neo-pw', ['put', 'n', '1'])).code).toBe(0);
  });

  it("SIGHUP takes a removed user's open connections away", async () => {
    const c = await connect({
      seeds: cluster!.seeds,
      tls: { certsDir: certs },
      user: 'neo',
      password: 'neo-pw',
      timeoutMs: 3000,
    });
    try {
      await c.put('n', 2);
      const file = JSON.parse(readFileSync(usersFile, 'utf8'));
      file.users = file.users.filter((u: { name: string }) => u.name !== 'neo');
      writeFileSync(usersFile, JSON.stringify(file));
      for (const p of cluster!.places) p.child.kill('SIGHUP');
      await waitUntil(
        () => cluster!.places.every((p) => readFileSync(p.logFile, 'utf8').includes('reloaded 3 users from')),
        5_000,
        50,
      );
      const err = await c.put('n', 3).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).message).toMatch(/user 'neo' was removed|wrong user name or password/);
    } finally {
      await c.close();
    }
  });

  it('a request held during its login, with a field no request has, gets an error and the place stays up', async () => {
    const place = cluster!.places[1]!;
    const [host, port] = place.address.split(':');
    const packr = new Packr({ useRecords: false });
    const unpackr = new Unpackr({ useRecords: false });
    const frame = (m: object) => {
      const body = packr.pack(m);
      const h = Buffer.alloc(4);
      h.writeUInt32BE(body.length, 0);
      return Buffer.concat([h, body]);
    };
    const socket = tls.connect({
      host,
      port: Number(port),
      ca: readFileSync(join(certs, 'ca.crt')),
      cert: readFileSync(join(certs, 'client.crt')),
      key: readFileSync(join(certs, 'client.key')),
    });
    let got = Buffer.alloc(0);
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
    });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    // In one flight: the login, and an op whose kind is a map (held until the login is checked).
    socket.write(
      Buffer.concat([
        frame({ t: 'auth', user: 'rae', password: 'rae-pw' }),
        frame({ t: 'op', id: 7, tv: 0, o: { toString: 1 }, k: 'k', c: 'raw', lo: 0 }),
      ]),
    );
    const replies = () => {
      const out: { t: string; id?: number; code?: string }[] = [];
      for (let at = 0; at + 4 <= got.length; ) {
        const n = got.readUInt32BE(at);
        if (at + 4 + n > got.length) break;
        out.push(unpackr.unpack(got.subarray(at + 4, at + 4 + n)));
        at += 4 + n;
      }
      return out;
    };
    await waitUntil(() => replies().some((r) => r.t === 'err' && r.id === 7), 5_000, 20);
    expect(replies()[0]).toMatchObject({ t: 'authOk', role: 'read' });
    socket.destroy();
    expect(place.exit).toBeNull();
    expect((await as('rae', 'rae-pw', ['get', 'k'])).code).toBe(0);
  });

  it('a place refuses to start with users but neither TLS nor a cluster secret', async () => {
    const r = await runCli(['place', '--listen', '127.0.0.1:1', '--users-file', usersFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--users-file needs --certs-dir or --cluster-secret-file/);
  });
});

describe.skipIf(why !== null)(
  `the Redis door with users and TLS${why === null ? '' : ` (skipped: ${why})`}`,
  () => {
    const tlsFiles = () => ({
      ca: readFileSync(join(certs, 'ca.crt')),
      cert: readFileSync(join(certs, 'client.crt')),
      key: readFileSync(join(certs, 'client.key')),
    });

    /** A raw TLS connection to place 0's RESP port; replies as text, one per write. */
    async function rawTls(withCert: boolean) {
      const { ca, cert, key } = tlsFiles();
      const s = tls.connect({ host: '127.0.0.1', port: respPort, ca, ...(withCert ? { cert, key } : {}) });
      await new Promise<void>((resolve, reject) => {
        s.once('secureConnect', () => resolve());
        s.once('error', reject);
      });
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
      });
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
      s.on('error', () => {});
      return {
        async call(line: string): Promise<string> {
          const before = buf.length;
          s.write(`${line}\r\n`);
          await waitUntil(() => buf.length > before && buf.endsWith('\r\n'), 5000);
          return buf.slice(before);
        },
        closed,
        close: () => s.destroy(),
        write: (text: string) => s.write(text),
        get text() {
          return buf;
        },
      };
    }

    it('answers NOAUTH until AUTH, WRONGPASS for a wrong password, and the role after a good one', async () => {
      const c = await rawTls(true);
      try {
        expect(await c.call('GET k')).toBe('-NOAUTH Authentication required.\r\n');
        expect(await c.call('CLUSTER SLOTS')).toBe('-NOAUTH Authentication required.\r\n');
        expect(await c.call('AUTH rae wrong')).toBe(
          '-WRONGPASS invalid username-password pair or user is disabled.\r\n',
        );
        // A failed login leaves the connection open and still logged out, as in Redis.
        expect(await c.call('GET k')).toBe('-NOAUTH Authentication required.\r\n');
        await waitUntil(async () => (await c.call('AUTH rae rae-pw')) === '+OK\r\n', 15_000);
        expect(await c.call('CLUSTER MYID')).toMatch(/^\$40\r\n/);
        // A key place 0 is primary of: the role, not a redirect, answers.
        let key = '';
        for (let i = 0; key === '' && i < 200; i++)
          if (!(await c.call(`GET own${i}`)).startsWith('-MOVED')) key = `own${i}`;
        expect(await c.call(`SET ${key} x`)).toBe("-NOPERM user 'rae' has role read, which may not put\r\n");
        // HELLO 3 AUTH logs in again, as another user, and switches to RESP3.
        expect(await c.call('HELLO 3 AUTH wes wes-pw')).toMatch(/^%7\r\n/);
        expect(await c.call(`GET ${key}`)).toBe('_\r\n');
        expect(await c.call(`SET ${key} y`)).toBe('+OK\r\n');
      } finally {
        c.close();
      }
    });

    it('refuses a client without a certificate of the CA, saying why; one that resets at once harms nothing', async () => {
      const c = await rawTls(false);
      await c.closed;
      expect(c.text).toMatch(/^-ERR this place requires a client certificate signed by its CA/);
      for (let i = 0; i < 5; i++) (await rawTls(false)).close();
      const ok = await rawTls(true);
      try {
        expect(await ok.call('PING')).toBe('-NOAUTH Authentication required.\r\n');
      } finally {
        ok.close();
      }
    });

    it('a login followed by malformed input gets its answer, then the error, then the close', async () => {
      const c = await rawTls(true);
      c.write('AUTH rae rae-pw\r\n*1\r\n$abc\r\n');
      await c.closed;
      expect(c.text).toBe('+OK\r\n-ERR Protocol error: invalid bulk length\r\n');
    });

    it('ioredis Cluster logs in over TLS (AUTH user password), writes and reads as a write user', async () => {
      const { ca, cert, key } = tlsFiles();
      const io = new IoCluster([{ host: '127.0.0.1', port: respPort + 1 }], {
        scaleReads: 'master',
        redisOptions: { tls: { ca, cert, key }, username: 'wes', password: 'wes-pw' },
      });
      try {
        for (let i = 0; i < 50; i++) await io.set(`tls:${i}`, `v${i}`);
        for (let i = 0; i < 50; i++) expect(await io.get(`tls:${i}`)).toBe(`v${i}`);
      } finally {
        io.disconnect();
      }
    });
  },
);
