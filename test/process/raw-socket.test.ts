import net from 'node:net';
import { Packr } from 'msgpackr';
import { connect, LocalCluster, type StoreClient } from 'placestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/transport/FrameCodec.js';
import type { WireMessage } from '../../src/transport/Transport.js';
import { waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: LocalCluster;
let store: StoreClient;
const packr = new Packr({ useRecords: false });

beforeAll(async () => {
  cluster = await LocalCluster.start({ places: 2, spares: 0, port: await freePorts(2) });
  store = await connect({ seeds: cluster.seeds, timeoutMs: 5000 });
});

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

/** A raw TCP connection to a place that collects decoded frames and notices when it is closed. */
function rawSocket(address: string) {
  const [host, port] = address.split(':');
  const socket = net.connect(Number(port), host);
  const frames: WireMessage[] = [];
  const decoder = new FrameDecoder(1 << 24);
  let closed = false;
  socket.on('data', (chunk) =>
    decoder.push(
      chunk,
      (m) => frames.push(m),
      () => {},
    ),
  );
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  return { socket, frames, isClosed: () => closed };
}

function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

describe('bad frames from a raw socket', () => {
  it('an oversized length prefix gets an error frame naming it and the connection is closed; the place stays up', async () => {
    await store.put('before', 1);
    const raw = rawSocket(cluster.seeds[0]);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0);
    raw.socket.write(header);
    await waitUntil(() => raw.isClosed());
    expect(raw.frames[0]).toMatchObject({ t: 'err', code: 'frame_too_large' });
    expect(String(raw.frames[0].msg)).toMatch(/4294967280/);
    await store.put('after', 2);
    expect(await store.get('before')).toBe(1);
    expect(await store.get('after')).toBe(2);
    expect((await store.status()).places.every((p) => p.state === 'active')).toBe(true);
  });

  it('a garbage payload gets a bad_frame error and the same connection keeps working', async () => {
    const raw = rawSocket(cluster.seeds[1]);
    raw.socket.write(frame(Buffer.from([0xc1, 0xff, 0x00, 0x13])));
    raw.socket.write(frame(packr.pack([1, 2, 3])));
    raw.socket.write(frame(packr.pack({ t: 'tableGet', tv: 0 })));
    await waitUntil(() => raw.frames.length >= 3);
    expect(raw.frames[0]).toMatchObject({ t: 'err' });
    expect(['bad_frame', 'bad_message']).toContain(raw.frames[0].code);
    expect(raw.frames[1]).toMatchObject({ t: 'err', code: 'bad_message' });
    expect(raw.frames[2]).toMatchObject({ t: 'table' });
    expect(raw.isClosed()).toBe(false);
    raw.socket.destroy();
  });

  it('a truncated frame followed by a hang-up costs nothing', async () => {
    const raw = rawSocket(cluster.seeds[0]);
    const whole = frame(
      packr.pack({ t: 'op', id: 1, c: 'raw', tv: 0, o: 'put', k: 'half', v: packr.pack('x') }),
    );
    raw.socket.end(whole.subarray(0, whole.length - 3));
    await waitUntil(() => raw.isClosed());
    expect(await store.get('half')).toBeUndefined();
    await store.put('half', 'written properly');
    expect(await store.get('half')).toBe('written properly');
  });
});

describe("place-protocol messages from a connection that is not a member place's", () => {
  it('an invalid notice and a forged table push close the connection; the store stays valid and answers', async () => {
    await store.put('kept', 'yes');
    const before = await store.status();
    for (const forged of [
      { t: 'invalid', tv: 1e9, term: 1e9, reason: 'forged' },
      { t: 'tablePush', tv: 1e9, table: { version: 1e9, term: 1e9 } },
    ]) {
      const raw = rawSocket(cluster.seeds[0]);
      raw.socket.write(frame(packr.pack(forged)));
      await waitUntil(() => raw.isClosed());
      expect(raw.frames[0]).toMatchObject({ t: 'err', code: 'not_a_client_request' });
      expect(String(raw.frames[0].msg)).toContain(`'${forged.t}' is not a client request`);
    }
    const after = await store.status();
    expect([after.valid, after.term, after.tableVersion]).toEqual([true, before.term, before.tableVersion]);
    expect(await store.get('kept')).toBe('yes');
  });

  it('from a place the table does not list, place messages get not_a_member', async () => {
    const raw = rawSocket(cluster.seeds[1]);
    raw.socket.write(
      frame(packr.pack({ t: 'hello', lane: 'control', role: 'place', from: '10.9.9.9:7400' })),
    );
    raw.socket.write(frame(packr.pack({ t: 'invalid', tv: 1e9, term: 1e9, reason: 'forged' })));
    await waitUntil(() => raw.frames.length > 0);
    expect(raw.frames[0]).toMatchObject({ t: 'err', code: 'not_a_member' });
    raw.socket.destroy();
    expect((await store.status()).valid).toBe(true);
  });

  it("an invalid notice over a connection that claims a member's address makes nothing invalid either", async () => {
    const raw = rawSocket(cluster.seeds[1]);
    raw.socket.write(
      frame(packr.pack({ t: 'hello', lane: 'control', role: 'place', from: cluster.seeds[0] })),
    );
    raw.socket.write(frame(packr.pack({ t: 'invalid', tv: 1e9, term: 1e9, reason: 'forged' })));
    // Only a committed table says "invalid": the place asks the sender for its table.
    await waitUntil(() => raw.frames.some((f) => f.t === 'tableGet'));
    raw.socket.destroy();
    expect((await store.status()).valid).toBe(true);
    await store.put('still', 'writable');
    expect(await store.get('still')).toBe('writable');
  });
});
