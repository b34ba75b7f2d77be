import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from './FrameCodec.js';
import {
  formatAddress,
  HELLO,
  KEEPALIVE,
  type LinkHost,
  parseAddress,
  poolKey,
  TcpLink,
  type TransportLog,
} from './TcpLink.js';
import type {
  Lane,
  Link,
  LinkClosedHandler,
  MessageHandler,
  PeerRole,
  Tagged,
  Transport,
  WireMessage,
} from './Transport.js';
import { clientOptions, serverOptions, type TransportTls } from './tlsOptions.js';

export { parseAddress, TcpLink, type TransportLog, type TransportTls };

/** Tuning for TcpTransport; every field has a default. */
export interface TcpTransportOptions {
  /** Largest frame payload accepted from a peer or sent to one (default 16 MiB). */
  maxFrameBytes?: number;
  /** Bytes a link may buffer for writing before reading is paused (default 8 MiB). */
  highWaterBytes?: number;
  /** An outgoing dial fails after this long (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Minimum time between a failed link to an address and the next dial to it (default 50 ms). */
  reconnectDelayMs?: number;
  /**
   * Milliseconds of input handling per event-loop turn: past it, links other than control ones stop
   * reading until the next turn, so timers (heartbeats) run between slices (default 20).
   */
  turnBudgetMs?: number;
  /**
   * Off unless set: a link (one this side dialled, or one whose peer probes it) that carried nothing
   * for this long is closed as cut (a blackholed connection otherwise holds its queue for minutes);
   * an idle link is probed four times as often, and any peer answers a probe.
   */
  keepaliveMs?: number;
  /**
   * Who this transport dials as (default client). A place's first frame on every connection says so;
   * its peers take place-protocol messages only from such connections.
   */
  role?: PeerRole;
  /** TLS 1.3 on every connection, both ways (off unless set). */
  tls?: TransportTls;
  /**
   * The address the others reach this place at, when it is not the one it listens at (NAT,
   * containers, a wildcard bind): what its connections say it is (default: the listen address).
   */
  advertise?: string;
  /** Sent first on every connection this side dials (a client's login, say). */
  greeting?: Tagged;
  /**
   * The cluster secret (at least 16 bytes): places' connections prove they know it before anything
   * they send is taken (without TLS, this is what keeps strangers out).
   */
  secret?: Buffer;
  log?: TransportLog;
}

/** Default write buffer limit per link. */
export const DEFAULT_HIGH_WATER_BYTES = 8 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_RECONNECT_DELAY_MS = 50;
const DEFAULT_TURN_BUDGET_MS = 20;

/** Transport over TCP: length-prefixed MessagePack frames, pooled outgoing links, write batching, backpressure. */
export class TcpTransport implements Transport {
  private readonly host: LinkHost;
  private readonly connectTimeoutMs: number;
  private readonly role: PeerRole;
  private readonly reconnectDelayMs: number;
  private readonly log: TransportLog;
  private server: net.Server | null = null;
  private tls: TransportTls | null;
  private readonly greeting: Tagged | null;
  private readonly advertised: string | null;
  private readonly secret: Buffer | null;
  /** With TLS: the server that runs the handshake of every accepted socket (it listens on nothing). */
  private tlsServer: tls.Server | null = null;
  private boundAddress: string | null = null;
  /** The address listen() was given. */
  private givenAddress: string | null = null;
  private isClosed = false;
  private readonly incoming = new Set<TcpLink>();
  private readonly outgoingLinks = new Set<TcpLink>();
  private readonly pool = new Map<string, TcpLink>();
  private readonly lastFailure = new Map<string, number>();
  private readonly backedUpLinks = new Set<TcpLink>();
  private readonly turnBudgetMs: number;
  private readonly keepaliveMs: number | null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private lastKeepaliveTick = performance.now();
  /** Start of the current turn's input handling, or null when no turn is open. */
  private turnStart: number | null = null;
  /** Links that used up a turn's budget: they read again next turn. */
  private readonly yielded = new Set<TcpLink>();
  /** Links with frames queued this turn. */
  private readonly dirty = new Set<TcpLink>();
  private flushScheduled = false;
  private endingTurn = false;
  private readonly socketsClosing = new Set<Promise<void>>();
  private messageHandler: MessageHandler = () => {};
  private batchEndHandler: () => void = () => {};
  private linkClosedHandler: LinkClosedHandler = () => {};

  /** Creates an idle transport; call listen to accept connections, linkTo to dial. */
  constructor(options: TcpTransportOptions = {}) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const highWaterBytes = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    if (!(maxFrameBytes > 0 && maxFrameBytes <= 0xffffffff))
      throw new RangeError('maxFrameBytes out of range');
    if (!(highWaterBytes > 0)) throw new RangeError('highWaterBytes must be positive');
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.role = options.role ?? 'client';
    this.tls = options.tls ?? null;
    this.greeting = options.greeting ?? null;
    this.advertised = options.advertise ?? null;
    this.secret = options.secret ?? null;
    if (this.secret !== null && this.secret.length < 16)
      throw new RangeError('the cluster secret must be at least 16 bytes');
    this.reconnectDelayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
    this.turnBudgetMs = options.turnBudgetMs ?? DEFAULT_TURN_BUDGET_MS;
    this.keepaliveMs = options.keepaliveMs ?? null;
    if (this.keepaliveMs !== null) {
      if (!(this.keepaliveMs >= 4)) throw new RangeError('keepaliveMs must be at least 4');
      this.keepaliveTimer = setInterval(() => this.probeLinks(), this.keepaliveMs / 4);
      this.keepaliveTimer.unref();
    }
    const log = options.log ?? (() => {});
    this.log = log;
    this.host = {
      maxFrameBytes,
      highWaterBytes,
      log,
      deliver: (link, msg) => this.deliver(link, msg),
      markDirty: (link) => this.markDirty(link),
      readStart: () => this.readStart(),
      readEnd: (link) => this.readEnd(link),
      yieldIfSpent: (link) => this.yieldIfSpent(link),
      // Control links are read even while another link's writes are backed up.
      readBlocked: (link) =>
        link.readPaused || this.yielded.has(link) || (this.backedUpLinks.size > 0 && link.lane !== 'control'),
      greeted: (link) => {
        if (this.backedUpLinks.size > 0 && link.lane !== 'control') link.pauseReading();
      },
      admit: (link, claimsPlace) => this.admit(link, claimsPlace),
      secretRequired: this.secret !== null,
      proof: (nonce) =>
        this.secret === null ? null : linkProof(this.secret, nonce, this.givenAddress ?? ''),
      checkProof: (nonce, from, mac) =>
        this.secret !== null && sameMac(mac, linkProof(this.secret, nonce, from)),
      acceptorProof: (nonce) =>
        this.secret === null ? null : linkProof(this.secret, `acceptor|${nonce}`, this.givenAddress ?? ''),
      checkAcceptorProof: (nonce, address, ap) =>
        this.secret !== null && sameMac(ap, linkProof(this.secret, `acceptor|${nonce}`, address)),
      backedUp: (link) => this.onBackedUp(link),
      drained: (link) => this.onDrained(link),
      scheduleResume: (link) => queueMicrotask(() => link.resumeReading()),
      closed: (link, reason, failed) => this.onLinkClosedInternal(link, reason, failed),
    };
  }

  /** The bound "host:port" once listening (with the real port when 0 was asked for), else null. */
  get listenAddress(): string | null {
    return this.boundAddress;
  }

  /** True while reading is paused on any incoming socket because some link's writes are backed up. */
  get pausedForBackpressure(): boolean {
    if (this.backedUpLinks.size > 0) return true;
    for (const link of this.incoming) if (link.readPaused) return true;
    return false;
  }

  /** Starts accepting connections; rejects if the address is malformed or cannot be bound. */
  async listen(address: string): Promise<void> {
    if (this.isClosed) throw new Error('transport is closed');
    if (this.server) throw new Error(`already listening on ${this.boundAddress ?? 'a pending address'}`);
    const { host, port } = parseAddress(address);
    this.givenAddress = this.advertised ?? address;
    const server =
      this.tls === null ? net.createServer((socket) => this.accept(socket)) : this.tlsListener(this.tls);
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          server.off('listening', onListening);
          const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
          reject(new Error(`cannot listen on ${address}: ${why}`, { cause: err }));
        };
        const onListening = () => {
          server.off('error', onError);
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ host, port });
      });
    } catch (err) {
      this.server = null;
      throw err;
    }
    server.on('error', (err) => this.log('warn', `listener ${address}: ${err.message}`));
    const bound = server.address() as net.AddressInfo;
    this.boundAddress = formatAddress(bound.address, bound.port);
    this.log('info', `listening on ${this.boundAddress}`);
  }

  /** Closes the pooled outgoing link to address (queued frames are dropped), if there is one. */
  disconnect(address: string): void {
    for (const key of [address, `control|${address}`]) {
      const link = this.pool.get(key);
      if (link !== undefined && !link.closed) link.fail(`disconnected from ${address}`);
    }
  }

  /** Returns the open pooled link to address, or a fresh one that dials (after reconnectDelayMs since a failure). */
  linkTo(address: string, lane: Lane = 'data'): Link {
    const key = poolKey(address, lane);
    const existing = this.pool.get(key);
    if (existing && !existing.closed) return existing;
    const link = new TcpLink(this.host, address, true, lane);
    if (this.isClosed) {
      link.fail('transport is closed');
      return link;
    }
    this.pool.set(key, link);
    // The first frame tells the receiver which lane this connection is, and that a place dialled it.
    // A place names the address it listens at as given (the one its table lists), not as bound.
    if (this.role === 'place') {
      const hello: Tagged = { t: HELLO, lane, role: 'place', from: this.givenAddress };
      if (this.secret !== null) {
        // The place dialled proves it knows the secret too, for this nonce, before anything it sends is taken.
        link.acceptorUnproved = randomBytes(16).toString('hex');
        hello.n = link.acceptorUnproved;
      }
      link.send(hello);
    } else if (lane === 'control') link.send({ t: HELLO, lane });
    if (this.greeting !== null) link.send(this.greeting);
    this.outgoingLinks.add(link);
    let target: { host: string; port: number };
    try {
      target = parseAddress(address);
    } catch (err) {
      const reason = (err as Error).message;
      setImmediate(() => link.fail(reason));
      return link;
    }
    const failedAt = this.lastFailure.get(address);
    const wait = failedAt === undefined ? 0 : failedAt + this.reconnectDelayMs - Date.now();
    if (wait > 0) {
      link.dialTimer = setTimeout(() => this.dial(link, address, target), wait);
    } else {
      this.dial(link, address, target);
    }
    return link;
  }

  /** Sets the handler of every decoded message on every link. */
  onBatchEnd(handler: () => void): void {
    this.batchEndHandler = handler;
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  /** Sets the handler called once per link when it closes, locally or because of an error. */
  onLinkClosed(handler: LinkClosedHandler): void {
    this.linkClosedHandler = handler;
  }

  /** Open connections by who is at the other end: clients that dialled in, and places either way. */
  connectionCounts(): { clients: number; places: number } {
    let clients = 0;
    let places = 0;
    for (const link of this.incoming) {
      if (link.closed) continue;
      if (link.peerRole === 'client') clients++;
      else places++;
    }
    for (const link of this.outgoingLinks) if (!link.closed) places++;
    return { clients, places };
  }

  /** Stops listening and closes every link (flushing connected ones); resolves when all sockets are closed. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    const server = this.server;
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    for (const link of [...this.incoming, ...this.outgoingLinks]) {
      if (link.connected) link.shutdown('transport closed');
      else link.fail('transport closed');
    }
    await Promise.all([serverClosed, ...this.socketsClosing]);
    this.boundAddress = null;
  }

  private dial(link: TcpLink, address: string, target: { host: string; port: number }): void {
    link.dialTimer = null;
    if (link.closed && !link.connected && link.bufferedBytes === 0) return;
    const t = this.tls;
    const socket =
      t === null
        ? net.connect({ host: target.host, port: target.port })
        : tls.connect({ host: target.host, port: target.port, ...clientOptions(t, target.host) });
    this.track(socket);
    link.attach(socket, false, t === null ? 'connect' : 'secureConnect');
    link.dialTimer = setTimeout(() => {
      socket.destroy(new Error(`connect to ${address} timed out after ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    socket.once('connect', () => {
      this.lastFailure.delete(address);
      this.log('debug', `connected to ${address}`);
    });
  }

  /**
   * A plain TCP listener whose sockets go through a TLS server's handshake (TLS 1.3 only): a peer
   * that speaks plain frames instead is told, in a plain frame, that TLS is required.
   */
  private tlsListener(t: TransportTls): net.Server {
    const tlsServer = tls.createServer(serverOptions(t), (socket) => this.accept(socket));
    this.tlsServer = tlsServer;
    tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.log(
        'debug',
        `TLS handshake with ${socket.remoteAddress}:${socket.remotePort} failed: ${err.message}`,
      );
      // The raw socket under the TLS one (Node keeps it as _parent) still speaks plain TCP.
      const raw = (socket as unknown as { _parent?: net.Socket })._parent;
      if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' && raw !== undefined && !raw.destroyed) {
        const msg =
          'this place requires TLS 1.3: connect with --certs-dir DIR (connect({ tls }) in the library)';
        raw.end(encodeFrame({ t: 'err', code: 'unauthenticated', msg }));
      } else socket.destroy();
    });
    return net.createServer((raw) => {
      if (this.isClosed) raw.destroy();
      else tlsServer.emit('connection', raw);
    });
  }

  /** Replaces the TLS material for new connections (certificates rotated); open ones keep theirs. */
  reloadTls(t: TransportTls): void {
    if (this.tls === null) throw new Error('this transport runs without TLS');
    this.tls = t;
    this.tlsServer?.setSecureContext(serverOptions(t));
  }

  /**
   * Over TLS, who may speak: a place's connection needs a place certificate of the CA; a client's
   * needs a certificate of the CA too unless client certificates are optional.
   */
  private admit(link: TcpLink, claimsPlace: boolean): { code: string; msg: string } | null {
    const t = this.tls;
    if (t === null) return null;
    const unit = link.peerUnit;
    if (claimsPlace && unit !== 'place')
      return {
        code: 'unauthenticated',
        msg: `a place must present a place certificate signed by this cluster's CA (it presented ${unit === null || unit === undefined ? 'none this CA signed' : `one for '${unit}'`})`,
      };
    if (!claimsPlace && (t.clientCerts ?? 'require') === 'require' && (unit === null || unit === undefined))
      return {
        code: 'unauthenticated',
        msg: "this place requires a client certificate signed by its CA: connect with --certs-dir DIR holding the CA's client.crt and client.key",
      };
    return null;
  }

  private accept(socket: net.Socket): void {
    if (this.isClosed) {
      socket.destroy();
      return;
    }
    this.track(socket);
    const link = new TcpLink(this.host, `${socket.remoteAddress}:${socket.remotePort}`, false);
    link.attach(socket, true);
    this.incoming.add(link);
    // Under backpressure it is paused once its first frame says it is not a control link (greeted).
    this.log('debug', `accepted ${link.remote}`);
  }

  private track(socket: net.Socket): void {
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.socketsClosing.add(closed);
    void closed.then(() => this.socketsClosing.delete(closed));
  }

  private batchEnd(): void {
    try {
      this.batchEndHandler();
    } catch (err) {
      this.log('warn', `batch-end handler threw: ${(err as Error)?.message ?? err}`);
    }
  }

  private readStart(): void {
    if (this.turnStart !== null) return;
    this.turnStart = performance.now();
    setImmediate(() => this.endTurn());
  }

  private markDirty(link: TcpLink): void {
    this.dirty.add(link);
    // Within a turn (or its end, which flushes last) the turn's end writes it.
    if (this.flushScheduled || this.turnStart !== null || this.endingTurn) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushDirty());
  }

  /** Writes every link's frames of this turn, one write each. */
  private flushDirty(): void {
    this.flushScheduled = false;
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
  }

  /** A link that read past the turn's budget stops until the next turn (control links never do). */
  private readEnd(link: TcpLink): void {
    this.yieldIfSpent(link);
  }

  private yieldIfSpent(link: TcpLink): boolean {
    if (link.lane === 'control' || link.closed || this.turnStart === null) return false;
    if (performance.now() - this.turnStart < this.turnBudgetMs) return false;
    link.pauseReading();
    this.yielded.add(link);
    return true;
  }

  /** After the poll phase: timers have had their chance by the next one; yielded links read again, within a new budget. */
  private endTurn(): void {
    this.turnStart = null;
    this.endingTurn = true;
    // What the turn's input produced is decided now, and written at once: one write per link.
    this.batchEnd();
    // Links that yielded read again, within a new budget that the first of them opens. One still held
    // back by backpressure stays here: the end of the backpressure starts a turn for it (onDrained,
    // resumeAllIncoming). With none able to read, no turn is opened, so nothing spins.
    for (const link of [...this.yielded]) {
      if (this.turnStart !== null && performance.now() - this.turnStart >= this.turnBudgetMs) break;
      if (link.readPaused || (this.backedUpLinks.size > 0 && link.lane !== 'control')) continue;
      this.yielded.delete(link);
      link.resumeReading();
      if (!link.closed && this.yielded.has(link)) break;
    }
    this.endingTurn = false;
    this.flushDirty();
  }

  /** Keepalive: closes links silent for keepaliveMs, probes idle ones. */
  private probeLinks(): void {
    const limit = this.keepaliveMs!;
    const now = performance.now();
    // This process itself was blocked: what arrived meanwhile is still unread, so nobody was silent.
    const late = now - this.lastKeepaliveTick > limit / 2;
    this.lastKeepaliveTick = now;
    for (const link of [...this.outgoingLinks, ...this.incoming]) {
      if (!link.connected || link.closed || (!link.outgoing && !link.peerProbes)) continue;
      if (late) link.lastHeardAt = now;
      else if (now - link.lastHeardAt > limit) {
        link.fail(`nothing heard from ${link.remote} for ${limit} ms: the link is cut or the peer is gone`);
        continue;
      }
      if (now - link.lastSentAt >= limit / 4) link.send({ t: KEEPALIVE });
    }
    this.flushDirty();
  }

  private deliver(link: TcpLink, msg: WireMessage): void {
    try {
      this.messageHandler(link, msg);
    } catch (err) {
      this.log('warn', `handler threw on '${msg.t}' from ${link.remote}: ${(err as Error)?.message ?? err}`);
    }
  }

  private onBackedUp(link: TcpLink): void {
    if (!link.outgoing) {
      if (link.readPaused) return;
      link.readPaused = true;
      link.pauseReading();
      this.log('debug', `${link.remote}: paused reading, ${link.bufferedBytes} bytes waiting to be written`);
      return;
    }
    if (this.backedUpLinks.has(link)) return;
    this.backedUpLinks.add(link);
    if (this.backedUpLinks.size === 1) {
      this.log('debug', `${link.remote} backed up: pausing reads on all incoming links`);
      // A link not greeted yet may be control: its greeting decides (see greeted in the host).
      for (const incoming of this.incoming)
        if (incoming.greeted && incoming.lane !== 'control') incoming.pauseReading();
    }
  }

  private onDrained(link: TcpLink): void {
    if (!link.outgoing) {
      if (!link.readPaused) return;
      link.readPaused = false;
      if (this.yielded.has(link)) this.readStart();
      else this.host.scheduleResume(link);
      return;
    }
    if (this.backedUpLinks.delete(link) && this.backedUpLinks.size === 0) this.resumeAllIncoming();
  }

  private resumeAllIncoming(): void {
    // Links that yielded a turn while backpressure held them read again at the next turn's end.
    if (this.yielded.size > 0) this.readStart();
    for (const link of this.incoming) this.host.scheduleResume(link);
  }

  private onLinkClosedInternal(link: TcpLink, reason: string, failed: boolean): void {
    this.yielded.delete(link);
    const known = this.incoming.delete(link) || this.outgoingLinks.delete(link);
    // Links handed out after close() were never registered; reporting them could loop through linkTo.
    if (!known) return;
    const key = poolKey(link.remote, link.lane);
    if (this.pool.get(key) === link) this.pool.delete(key);
    if (failed && link.outgoing) this.lastFailure.set(link.remote, Date.now());
    if (this.backedUpLinks.delete(link) && this.backedUpLinks.size === 0) this.resumeAllIncoming();
    this.log(failed ? 'info' : 'debug', `link ${link.remote} closed: ${reason}`);
    try {
      this.linkClosedHandler(link, reason);
    } catch (err) {
      this.log('warn', `link-closed handler threw for ${link.remote}: ${(err as Error)?.message ?? err}`);
    }
  }
}

/** HMAC-SHA256 of a challenge's nonce and the dialer's address, under the cluster secret (hex). */
function linkProof(secret: Buffer, nonce: string, from: string): string {
  return createHmac('sha256', secret).update(`placestore-link|${nonce}|${from}`).digest('hex');
}

/** True when mac (from the wire: anything) is expected, compared in constant time. */
function sameMac(mac: unknown, expectedHex: string): boolean {
  if (typeof mac !== 'string') return false;
  const expected = Buffer.from(expectedHex, 'hex');
  const got = Buffer.from(mac, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
