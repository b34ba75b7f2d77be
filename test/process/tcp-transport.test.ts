import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/transport/FrameCodec.js';
import { type TcpLink, TcpTransport, type TcpTransportOptions } from '../../src/transport/TcpTransport.js';
import type { Link, WireMessage } from '../../src/transport/Transport.js';

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function transport(options?: TcpTransportOptions): TcpTransport {
  const t = new TcpTransport(options);
  cleanups.push(() => t.close());
  return t;
}

/** A listening transport that answers `req` with `res` (same id, optional payload of `size` bytes). */
async function echoServer(options?: TcpTransportOptions): Promise<{ server: TcpTransport; address: string }> {
  const server = transport(options);
  server.onMessage((link, msg) => {
    if (msg.t === 'req') {
      const reply: WireMessage = { t: 'res', id: msg.id };
      if (typeof msg.size === 'number') reply.data = Buffer.alloc(msg.size, 1);
      link.send(reply);
    }
  });
  await server.listen('127.0.0.1:0');
  return { server, address: server.listenAddress! };
}

function collectingClient(options?: TcpTransportOptions): {
  client: TcpTransport;
  replies: WireMessage[];
  closed: Array<{ link: Link; reason: string }>;
} {
  const client = transport(options);
  const replies: WireMessage[] = [];
  const closed: Array<{ link: Link; reason: string }> = [];
  client.onMessage((_link, msg) => {
    replies.push(msg);
  });
  client.onLinkClosed((link, reason) => {
    closed.push({ link, reason });
  });
  return { client, replies, closed };
}

/** A raw socket that decodes whatever frames the server sends back. */
async function rawClient(
  address: string,
): Promise<{ socket: net.Socket; received: WireMessage[]; ended: () => boolean }> {
  const [host, port] = address.split(':');
  const socket = net.connect({ host, port: Number(port) });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const received: WireMessage[] = [];
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  let closed = false;
  socket.on('data', (chunk: Buffer) =>
    decoder.push(
      chunk,
      (m) => {
        received.push(m);
      },
      (e) => {
        throw e;
      },
    ),
  );
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  return { socket, received, ended: () => closed };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function lengthPrefix(n: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(n, 0);
  return header;
}

const waitFor = (condition: () => boolean, timeout = 10_000) =>
  vi.waitFor(
    () => {
      if (!condition()) throw new Error('condition not met yet');
    },
    { timeout, interval: 5 },
  );

describe('TcpTransport', () => {
  it('exchanges a request and a reply over a pooled link', async () => {
    const { address } = await echoServer();
    const { client, replies } = collectingClient();
    const link = client.linkTo(address);
    expect(client.linkTo(address)).toBe(link);
    link.send({ t: 'req', id: 1 });
    await waitFor(() => replies.length === 1);
    expect(replies[0]).toEqual({ t: 'res', id: 1 });
    expect(link.closed).toBe(false);
  });

  it('delivers 10,000 pipelined messages in order', async () => {
    const { address } = await echoServer();
    const { client, replies } = collectingClient();
    const link = client.linkTo(address);
    const count = 10_000;
    for (let id = 0; id < count; id++) link.send({ t: 'req', id });
    await waitFor(() => replies.length === count);
    expect(replies.map((r) => r.id)).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('delivers messages sent before the connection is up', async () => {
    const { address } = await echoServer();
    const { client, replies } = collectingClient();
    const link = client.linkTo(address) as TcpLink;
    expect(link.connected).toBe(false);
    for (let id = 0; id < 5; id++) link.send({ t: 'req', id });
    await waitFor(() => replies.length === 5);
    expect(replies.map((r) => r.id)).toEqual([0, 1, 2, 3, 4]);
  });

  it('fails a link whose queue exceeds highWaterBytes while connecting', async () => {
    const { address } = await echoServer();
    const { client, closed } = collectingClient({ highWaterBytes: 1024 });
    const link = client.linkTo(address);
    link.send({ t: 'req', id: 1, pad: 'x'.repeat(2000) });
    expect(link.closed).toBe(true);
    expect(closed).toHaveLength(1);
    expect(closed[0].reason).toMatch(/queued while connecting/);
    expect(client.linkTo(address)).not.toBe(link);
  });

  it('flushes queued frames on close() and reports the close once', async () => {
    const received: unknown[] = [];
    const serverClosed: string[] = [];
    const server = transport();
    server.onMessage((_link, msg) => {
      received.push(msg.id);
    });
    server.onLinkClosed((_link, reason) => {
      serverClosed.push(reason);
    });
    await server.listen('127.0.0.1:0');
    const { client, closed } = collectingClient();
    const link = client.linkTo(server.listenAddress!);
    for (let id = 0; id < 3; id++) link.send({ t: 'req', id });
    link.close();
    expect(link.closed).toBe(true);
    await waitFor(() => serverClosed.length === 1);
    expect(received).toEqual([0, 1, 2]);
    expect(closed).toHaveLength(1);
  });

  it('answers an oversized length prefix with an error frame, closes that connection, keeps serving', async () => {
    const { server, address } = await echoServer({ maxFrameBytes: 1024 });
    const serverClosed: string[] = [];
    server.onLinkClosed((_link, reason) => {
      serverClosed.push(reason);
    });
    const raw = await rawClient(address);
    raw.socket.write(Buffer.concat([lengthPrefix(1025), Buffer.alloc(100)]));
    await waitFor(() => raw.ended());
    expect(raw.received).toHaveLength(1);
    const [err] = raw.received;
    expect(err.t).toBe('err');
    expect(err.code).toBe('frame_too_large');
    expect(typeof err.msg).toBe('string');
    expect(err.msg).toContain('1025');
    expect(err.msg).toContain('1024');
    await waitFor(() => serverClosed.length === 1);
    expect(serverClosed[0]).toContain('1025');

    const { client, replies } = collectingClient();
    client.linkTo(address).send({ t: 'req', id: 9 });
    await waitFor(() => replies.length === 1);
    expect(replies[0]).toEqual({ t: 'res', id: 9 });
  });

  it('answers a garbage payload with bad_frame and keeps the connection usable', async () => {
    const { address } = await echoServer();
    const raw = await rawClient(address);
    const garbage = Buffer.from([0x92, 0x01]);
    raw.socket.write(Buffer.concat([lengthPrefix(garbage.length), garbage]));
    await waitFor(() => raw.received.length === 1);
    expect(raw.received[0]).toMatchObject({ t: 'err', code: 'bad_frame' });
    expect(typeof raw.received[0].msg).toBe('string');

    raw.socket.write(encodeFrame({ t: 'req', id: 7 }));
    await waitFor(() => raw.received.length === 2);
    expect(raw.received[1]).toEqual({ t: 'res', id: 7 });
    expect(raw.ended()).toBe(false);
  });

  it('reports a dead address through onLinkClosed and re-dials on a later linkTo', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const { client, replies, closed } = collectingClient({ reconnectDelayMs: 0 });
    const dead = client.linkTo(address);
    dead.send({ t: 'req', id: 1 });
    await waitFor(() => closed.length === 1);
    expect(closed[0].link).toBe(dead);
    expect(closed[0].reason).toMatch(/ECONNREFUSED/);
    expect(dead.closed).toBe(true);

    const { server } = await echoServerAt(address);
    expect(server.listenAddress).toBe(address);
    const fresh = client.linkTo(address);
    expect(fresh).not.toBe(dead);
    fresh.send({ t: 'req', id: 2 });
    await waitFor(() => replies.length === 1);
    expect(replies[0]).toEqual({ t: 'res', id: 2 });
    expect(closed).toHaveLength(1);
  });

  it('rejects listen on a taken port or a malformed address', async () => {
    const { address } = await echoServer();
    await expect(transport().listen(address)).rejects.toThrow(/already in use/);
    await expect(transport().listen('no-port-here')).rejects.toThrow(/invalid address/);
    await expect(transport().listen('127.0.0.1:70000')).rejects.toThrow(/invalid address/);
  });

  it('pauses a socket whose peer does not read replies, bounding its buffer, and keeps serving others', async () => {
    const highWaterBytes = 1024 * 1024;
    const replySize = 64 * 1024;
    const server = transport({ highWaterBytes });
    let maxBuffered = 0;
    let handled = 0;
    server.onMessage((link, msg) => {
      link.send({ t: 'res', id: msg.id, data: Buffer.alloc(replySize, 2) });
      handled++;
      maxBuffered = Math.max(maxBuffered, (link as TcpLink).bufferedBytes);
    });
    await server.listen('127.0.0.1:0');
    const address = server.listenAddress!;
    const replyFrameBytes = encodeFrame({ t: 'res', id: 999, data: Buffer.alloc(replySize) }).length;

    const [host, port] = address.split(':');
    const slow = net.connect({ host, port: Number(port) });
    cleanups.push(() => slow.destroy());
    slow.on('error', () => {});
    const requests = 1000;
    slow.write(Buffer.concat(Array.from({ length: requests }, (_, id) => encodeFrame({ t: 'req', id }))));

    await waitFor(() => server.pausedForBackpressure);
    const { client, replies } = collectingClient();
    client.linkTo(address).send({ t: 'req', id: -1 });
    await waitFor(() => replies.length === 1);
    expect(replies[0].id).toBe(-1);
    expect(server.pausedForBackpressure).toBe(true);
    expect(handled).toBeLessThan(requests);
    expect(maxBuffered).toBeLessThanOrEqual(highWaterBytes + replyFrameBytes);

    // Once the peer reads, everything arrives in order and the pause lifts.
    const ids: unknown[] = [];
    const decoder = new FrameDecoder(1 << 20);
    slow.on('data', (chunk: Buffer) =>
      decoder.push(
        chunk,
        (m) => {
          ids.push(m.id);
        },
        (e) => {
          throw e;
        },
      ),
    );
    await waitFor(() => ids.length === requests);
    expect(ids).toEqual(Array.from({ length: requests }, (_, i) => i));
    expect(maxBuffered).toBeLessThanOrEqual(highWaterBytes + replyFrameBytes);
    await waitFor(() => !server.pausedForBackpressure);
  });

  it('pauses reading on incoming links while an outgoing link is backed up', async () => {
    const highWaterBytes = 256 * 1024;
    const peerSockets: net.Socket[] = [];
    const peer = net.createServer((socket) => {
      peerSockets.push(socket);
      socket.on('error', () => {});
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of peerSockets) s.destroy();
          peer.close(() => resolve());
        }),
    );
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const peerAddress = `127.0.0.1:${(peer.address() as net.AddressInfo).port}`;

    const middle = transport({ highWaterBytes });
    let forwarded = 0;
    middle.onMessage((_link, msg) => {
      if (msg.t !== 'fwd') return;
      middle.linkTo(peerAddress).send({ t: 'big', data: Buffer.alloc(64 * 1024, 3) });
      forwarded++;
    });
    await middle.listen('127.0.0.1:0');
    const toPeer = middle.linkTo(peerAddress) as TcpLink;
    await waitFor(() => toPeer.connected && peerSockets.length === 1);

    const { client } = collectingClient();
    const link = client.linkTo(middle.listenAddress!);
    const requests = 1000;
    for (let id = 0; id < requests; id++) link.send({ t: 'fwd', id });
    await waitFor(() => middle.pausedForBackpressure);
    expect(forwarded).toBeLessThan(requests);

    peerSockets[0].resume();
    await waitFor(() => forwarded === requests);
    await waitFor(() => !middle.pausedForBackpressure);
  });
});

async function echoServerAt(address: string): Promise<{ server: TcpTransport }> {
  const server = transport();
  server.onMessage((link, msg) => {
    if (msg.t === 'req') link.send({ t: 'res', id: msg.id });
  });
  await server.listen(address);
  return { server };
}

describe('input is handled in slices', () => {
  /** A server whose handler takes workMs per message; it counts its timer's ticks while it works. */
  async function slowServer(options: TcpTransportOptions, workMs: number) {
    const server = transport(options);
    const handled: string[] = [];
    let ticksWhileWorking = 0;
    server.onMessage((_link, msg) => {
      const until = performance.now() + workMs;
      while (performance.now() < until) {
        // the work of one request
      }
      handled.push(String(msg.t));
    });
    await server.listen('127.0.0.1:0');
    const timer = setInterval(() => {
      if (handled.length > 0 && handled.length < 200) ticksWhileWorking++;
    }, 5);
    cleanups.push(() => clearInterval(timer));
    return { handled, address: server.listenAddress!, ticks: () => ticksWhileWorking };
  }

  it('timers run between slices of a long burst of input; control links are read within the slices', async () => {
    const { handled, address, ticks } = await slowServer({ turnBudgetMs: 20 }, 3);
    const { client } = collectingClient();
    const data = client.linkTo(address);
    for (let i = 0; i < 200; i++) data.send({ t: 'req', id: i });
    await vi.waitFor(() => expect(handled.length).toBeGreaterThan(20), { timeout: 5000, interval: 5 });
    client.linkTo(address, 'control').send({ t: 'hb' });
    await vi.waitFor(() => expect(handled.length).toBe(201), { timeout: 10_000, interval: 10 });
    // 600 ms of work arrived at once, and the timer still ran between slices of about 20 ms.
    expect(ticks()).toBeGreaterThanOrEqual(10);
    // The heartbeat, on its own connection, overtook most of the data still waiting.
    expect(handled.indexOf('hb')).toBeLessThan(150);
  });

  it('without a budget the same burst holds every timer back until it is done', async () => {
    const { handled, address, ticks } = await slowServer({ turnBudgetMs: 100_000 }, 3);
    const { client } = collectingClient();
    const data = client.linkTo(address);
    for (let i = 0; i < 200; i++) data.send({ t: 'req', id: i });
    await vi.waitFor(() => expect(handled.length).toBe(200), { timeout: 10_000, interval: 10 });
    expect(ticks()).toBeLessThanOrEqual(3);
  });
});

describe('a link that yielded a turn', () => {
  it('reads again once the backpressure that held it ends, and does not spin meanwhile (found in review)', async () => {
    // C accepts and does not read: what B writes to it backs up.
    let cSocket: net.Socket | null = null;
    const c = net.createServer((s) => {
      cSocket = s;
      s.pause();
    });
    cleanups.push(() => new Promise<void>((r) => c.close(() => r())));
    cleanups.push(() => cSocket?.destroy());
    await new Promise<void>((r) => c.listen(0, '127.0.0.1', () => r()));
    const cAddress = `127.0.0.1:${(c.address() as net.AddressInfo).port}`;
    const { address: aAddress } = await echoServer();
    const b = transport({ turnBudgetMs: 1, highWaterBytes: 64 * 1024 });
    let got = 0;
    b.onMessage(() => {
      got++;
      const until = performance.now() + 3;
      while (performance.now() < until) {
        // each answer takes B a while: its reads run past the budget and yield
      }
    });
    const toC = b.linkTo(cAddress);
    const toA = b.linkTo(aAddress);
    await vi.waitFor(() => expect((toC as TcpLink).connected && (toA as TcpLink).connected).toBe(true));
    for (let i = 0; i < 40; i++) toC.send({ t: 'blob', s: 'x'.repeat(1024 * 1024) });
    await vi.waitFor(() => expect(b.pausedForBackpressure).toBe(true));
    for (let id = 0; id < 50; id++) toA.send({ t: 'req', id });
    await vi.waitFor(() => expect(got).toBeGreaterThan(0));
    // Let B's turns run out while the backpressure holds (the window the bug needed), then end it:
    // every echo from A must come through. Meanwhile B waits: it does not spin turn after turn.
    let turns = 0;
    b.onBatchEnd(() => turns++);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.pausedForBackpressure).toBe(true);
    expect(turns).toBeLessThan(20);
    cSocket!.on('data', () => {});
    cSocket!.resume();
    await vi.waitFor(() => expect(got).toBe(50), { timeout: 5000, interval: 20 });
  });
});

describe('a control connection', () => {
  it('is read under backpressure even when it said hello only after the backpressure began (found in review)', async () => {
    let cSocket: net.Socket | null = null;
    const c = net.createServer((s) => {
      cSocket = s;
      s.pause();
    });
    cleanups.push(() => new Promise<void>((r) => c.close(() => r())));
    cleanups.push(() => cSocket?.destroy());
    await new Promise<void>((r) => c.listen(0, '127.0.0.1', () => r()));
    const b = transport({ highWaterBytes: 64 * 1024 });
    const got: string[] = [];
    b.onMessage((_l, m) => got.push(String(m.t)));
    await b.listen('127.0.0.1:0');
    const [host, port] = b.listenAddress!.split(':');
    // A peer connects but has said nothing yet.
    const peer = net.connect({ host, port: Number(port) });
    cleanups.push(() => peer.destroy());
    await new Promise<void>((r) => peer.once('connect', () => r()));
    // Then B's writes to C back up: B stops reading its data connections.
    const toC = b.linkTo(`127.0.0.1:${(c.address() as net.AddressInfo).port}`);
    await vi.waitFor(() => expect((toC as TcpLink).connected).toBe(true));
    for (let i = 0; i < 40; i++) toC.send({ t: 'blob', s: 'x'.repeat(1024 * 1024) });
    await vi.waitFor(() => expect(b.pausedForBackpressure).toBe(true));
    // The peer says it is a control connection, and sends a heartbeat: B reads it all the same.
    peer.write(Buffer.concat([encodeFrame({ t: 'hello', lane: 'control' }), encodeFrame({ t: 'hb' })]));
    await vi.waitFor(() => expect(got).toEqual(['hb']), { timeout: 3000 });
    expect(b.pausedForBackpressure).toBe(true);
  });
});

describe('keepalive', () => {
  it('closes a dialled link whose peer stops sending anything (a blackhole), naming why', async () => {
    // The peer accepts and then says nothing, not even to probes: as a host behind a drop rule.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => silent.close(r));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const { client, closed } = collectingClient({ keepaliveMs: 200 });
    const link = client.linkTo(address);
    link.send({ t: 'req', id: 1 });
    await vi.waitFor(() => expect(closed.length).toBe(1), { timeout: 3000, interval: 10 });
    expect(closed[0]!.link).toBe(link);
    expect(closed[0]!.reason).toMatch(
      /nothing heard from .* for 200 ms: the link is cut or the peer is gone/,
    );
  });

  it('keeps an idle link between two live transports open: each probes, the other answers', async () => {
    const { server, address } = await echoServer({ keepaliveMs: 100 });
    const { client, closed } = collectingClient({ keepaliveMs: 100 });
    const link = client.linkTo(address) as TcpLink;
    link.send({ t: 'req', id: 1 });
    // Idle for many keepalive periods: every probe answered, nothing delivered, nothing closed.
    const heard: number[] = [];
    await vi.waitFor(
      () => {
        if (heard.at(-1) !== link.lastHeardAt) heard.push(link.lastHeardAt);
        expect(heard.length).toBeGreaterThan(12);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(closed).toEqual([]);
    expect(link.closed).toBe(false);
    expect(server.pausedForBackpressure).toBe(false);
  });
});
