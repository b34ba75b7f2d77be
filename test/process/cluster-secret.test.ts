import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { LocalCluster } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: LocalCluster | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await LocalCluster.start({
    places: 3,
    spares: 0,
    port: await freePorts(3),
    clusterSecret: true,
    placeArgs: ['--partitions', '16'],
  });
}, 60_000);

afterAll(async () => {
  for (const c of children) await stopChild(c);
  await cluster?.stop();
});

/** Starts a place that joins the cluster with these extra flags; resolves with it and its output so far. */
async function joiner(extra: string[]) {
  const port = await freePorts(1);
  const child = spawn(
    process.execPath,
    [
      CLI,
      'place',
      '--listen',
      `127.0.0.1:${port}`,
      '--join',
      cluster!.seeds.join(','),
      '--partitions',
      '16',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const out = { text: '' };
  child.stdout!.on('data', (d) => {
    out.text += d;
  });
  return { child, out, address: `127.0.0.1:${port}` };
}

const members = async () =>
  JSON.parse((await runCli(['status', '--json', '--seeds', cluster!.seeds.join(',')])).stdout).places.map(
    (p: { address: string }) => p.address,
  );

function frame(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

describe('a cluster secret (places without TLS)', () => {
  it('places that know it work together', async () => {
    expect((await runCli(['put', 'k', 'v', '--seeds', cluster!.seeds.join(',')])).code).toBe(0);
    expect((await runCli(['get', 'k', '--seeds', cluster!.seeds.join(',')])).stdout).toBe('v\n');
  });

  it('a place with a wrong secret, or none, cannot join; one with the right secret can', async () => {
    const wrongFile = join(cluster!.logDir, 'wrong.secret');
    writeFileSync(wrongFile, 'not the secret, but long enough\n');
    const wrong = await joiner(['--cluster-secret-file', wrongFile]);
    const none = await joiner([]);
    // Each side proves itself: the joiner with the wrong secret finds the place it dials cannot.
    await waitUntil(
      () => /the place at 127\.0\.0\.1:\d+ could not prove it knows the cluster secret/.test(wrong.out.text),
      15_000,
      50,
    );
    await waitUntil(
      () =>
        /refused this place: a place must prove it knows this cluster's secret \(--cluster-secret-file\): it has none/.test(
          none.out.text,
        ),
      15_000,
      50,
    );
    expect(await members()).toEqual(cluster!.seeds);
    const right = await joiner(['--cluster-secret-file', cluster!.secretFile]);
    await waitUntil(async () => (await members()).includes(right.address), 15_000, 100);
    expect(await members()).not.toContain(wrong.address);
  });

  it('a raw connection that says it is a place gets a challenge, and nothing it sent is taken without the proof', async () => {
    const packr = new Packr({ useRecords: false });
    const unpackr = new Unpackr({ useRecords: false });
    const [host, port] = cluster!.seeds[0]!.split(':');
    const socket = net.connect(Number(port), host);
    let got = Buffer.alloc(0);
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
    });
    const frames = () => {
      const out: { t: string; code?: string; msg?: string }[] = [];
      let at = 0;
      while (at + 4 <= got.length) {
        const n = got.readUInt32BE(at);
        if (at + 4 + n > got.length) break;
        out.push(unpackr.unpack(got.subarray(at + 4, at + 4 + n)));
        at += 4 + n;
      }
      return out;
    };
    // It claims a member's address and asks for the table: held, not answered.
    socket.write(frame(packr.pack({ t: 'hello', lane: 'control', role: 'place', from: cluster!.seeds[1] })));
    socket.write(frame(packr.pack({ t: 'tableGet', tv: 0 })));
    await waitUntil(() => frames().some((f) => f.t === 'ch'), 5_000, 20);
    expect(frames().map((f) => f.t)).toEqual(['ch']);
    socket.write(frame(packr.pack({ t: 'pr', mac: 'ab'.repeat(32) })));
    await waitUntil(() => frames().some((f) => f.t === 'err'), 5_000, 20);
    expect(frames().map((f) => f.t)).toEqual(['ch', 'err']);
    expect(frames()[1]).toMatchObject({
      code: 'unauthenticated',
      msg: expect.stringMatching(/its proof is wrong/),
    });
    await waitUntil(() => socket.destroyed || socket.readableEnded, 5_000, 20);
    socket.destroy();
  });

  it('a connection that says it is a place but never proves it is refused after 5 s', async () => {
    const packr = new Packr({ useRecords: false });
    const [host, port] = cluster!.seeds[2]!.split(':');
    const socket = net.connect(Number(port), host);
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    socket.write(frame(packr.pack({ t: 'hello', lane: 'data', role: 'place', from: cluster!.seeds[0] })));
    await waitUntil(() => closed, 10_000, 50);
    expect(text).toMatch(/no proof of the cluster secret within 5000 ms/);
  });

  it('a place listening beyond loopback without TLS warns loudly', async () => {
    const port = await freePorts(1);
    const child = spawn(
      process.execPath,
      [CLI, 'place', '--listen', `0.0.0.0:${port}`, '--min-places', '1'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    await waitUntil(() => err.includes('WARNING'), 10_000, 50);
    expect(err).toMatch(
      /WARNING: listening on 0\.0\.0\.0:\d+, beyond loopback, without TLS: anyone who reaches the port can read every key and every password, and write, and pose as a place/,
    );
    await stopChild(child);
  });
});
