import net from 'node:net';
import {
  DEFAULT_MAX_FRAME_BYTES,
  EMPTY_CHUNK,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
} from './FrameCodec.js';
import type {
  Lane,
  Link,
  LinkClosedHandler,
  MessageHandler,
  Tagged,
  Transport,
  WireMessage,
} from './Transport.js';

/** Log sink; the transport logs peer misbehaviour and link failures, never message contents. */
export type TransportLog = (level: 'debug' | 'info' | 'warn', msg: string) => void;

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
  log?: TransportLog;
}

/** Default write buffer limit per link. */
export const DEFAULT_HIGH_WATER_BYTES = 8 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_RECONNECT_DELAY_MS = 50;
const DEFAULT_TURN_BUDGET_MS = 20;
// A closing socket whose peer neither reads nor closes is destroyed after this long.
const LINGER_MS = 2000;

/** Parses "host:port" (or "[ipv6]:port"); throws on anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) {
    throw new Error(`invalid address "${address}": expected host:port with a port from 0 to 65535`);
  }
  return { host: match[1] ?? match[2], port };
}

/** Type of the transport's own first frame on a control connection (never handed to the receiver). */
const HELLO = 'hello';

function poolKey(address: string, lane: Lane): string {
  return lane === 'data' ? address : `${lane}|${address}`;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What a link needs from its transport. */
interface LinkHost {
  readonly maxFrameBytes: number;
  readonly highWaterBytes: number;
  log: TransportLog;
  deliver(link: TcpLink, msg: WireMessage): void;
  /** The link has frames to write: they go out together at the end of the turn. */
  markDirty(link: TcpLink): void;
  /** A read of link begins (opens the turn's budget) and ends (may make it yield). */
  readStart(): void;
  readEnd(link: TcpLink): void;
  /** True when link may not read more this turn (the budget is spent); it is then paused until the next. */
  yieldIfSpent(link: TcpLink): boolean;
  readBlocked(link: TcpLink): boolean;
  greeted(link: TcpLink): void;
  backedUp(link: TcpLink): void;
  drained(link: TcpLink): void;
  scheduleResume(link: TcpLink): void;
  closed(link: TcpLink, reason: string, failed: boolean): void;
}

/** One TCP connection carrying frames; created by TcpTransport (incoming) or TcpTransport.linkTo (outgoing). */
export class TcpLink implements Link {
  private socket: net.Socket | null = null;
  private isConnected = false;
  private isClosed = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** @internal Timer of a delayed or in-progress dial. */
  dialTimer: NodeJS.Timeout | null = null;
  /** @internal Reading paused because this link's own writes are backed up (incoming links only). */
  readPaused = false;
  /** @internal */
  readonly decoder: FrameDecoder;
  /** The lane it carries; an incoming link learns it from the dialer's first frame (see HELLO). */
  lane: Lane;
  /** Incoming: the first frame was seen (a lane greeting, or the first message). */
  private greeted: boolean;

  /** @internal */
  constructor(
    private readonly host: LinkHost,
    readonly remote: string,
    readonly outgoing: boolean,
    lane: Lane = 'data',
  ) {
    this.decoder = new FrameDecoder(host.maxFrameBytes);
    this.lane = lane;
    this.greeted = outgoing;
  }

  /** True once the link is closed or failed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** True while the socket is connected. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Bytes queued for writing: not yet handed to the socket plus the socket's own buffer. */
  get bufferedBytes(): number {
    return this.queuedBytes + (this.socket?.writableLength ?? 0);
  }

  /** Queues msg for the next flush; dropped if the link is closed; throws if it encodes above maxFrameBytes. */
  send(msg: Tagged): void {
    if (this.isClosed) {
      this.host.log('debug', `${this.remote}: dropped '${msg.t}' sent on a closed link`);
      return;
    }
    const frame = encodeFrame(msg);
    if (frame.length - FRAME_HEADER_BYTES > this.host.maxFrameBytes) {
      throw new FrameError(
        'frame_too_large',
        `message '${msg.t}' encodes to ${frame.length - FRAME_HEADER_BYTES} bytes, more than the limit of ${this.host.maxFrameBytes} bytes`,
        false,
      );
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (!this.isConnected) {
      if (this.queuedBytes > this.host.highWaterBytes) {
        this.fail(`more than ${this.host.highWaterBytes} bytes queued while connecting to ${this.remote}`);
      }
      return;
    }
    this.scheduleFlush();
    if (this.bufferedBytes > this.host.highWaterBytes) this.host.backedUp(this);
  }

  /** Flushes queued frames, then ends the connection. */
  close(): void {
    this.shutdown('closed locally');
  }

  /** @internal Takes over a connected (incoming) or connecting (outgoing) socket. */
  attach(socket: net.Socket, connected: boolean): void {
    this.socket = socket;
    this.isConnected = connected;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.isClosed) return;
      this.host.readStart();
      // Out of the turn's budget: keep the bytes, decode nothing, read again next turn.
      if (this.host.yieldIfSpent(this)) this.decoder.hold(chunk);
      else this.decoder.push(chunk, this.onFrame, this.onFrameError);
    });
    socket.on('drain', () => this.releaseIfDrained());
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.fail('connection closed by peer');
    });
    if (!connected) {
      socket.once('connect', () => {
        this.isConnected = true;
        if (this.dialTimer) clearTimeout(this.dialTimer);
        this.dialTimer = null;
        if (this.isClosed) {
          this.endSocket();
        } else {
          this.flush();
        }
      });
    }
  }

  /** @internal Stops reading from the socket; frames already received wait in the decoder. */
  pauseReading(): void {
    this.socket?.pause();
    this.decoder.stop();
  }

  /** @internal Delivers frames held back by a pause, then reads again unless paused anew. */
  resumeReading(): void {
    if (this.isClosed || this.host.readBlocked(this)) return;
    this.host.readStart();
    this.decoder.push(EMPTY_CHUNK, this.onFrame, this.onFrameError);
    if (!this.isClosed && !this.host.readBlocked(this)) this.socket?.resume();
  }

  /** @internal Closes gracefully: flush, end, report. */
  shutdown(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.decoder.stop();
    if (this.isConnected) {
      this.endSocket();
    } else if (this.queue.length === 0) {
      // Nothing to flush: abandon the dial. Otherwise the connect handler flushes and ends.
      if (this.dialTimer) clearTimeout(this.dialTimer);
      this.socket?.destroy();
    }
    this.host.closed(this, reason, false);
  }

  /** @internal Closes abruptly, dropping queued frames; reports once. */
  fail(reason: string): void {
    if (this.dialTimer) clearTimeout(this.dialTimer);
    this.dialTimer = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.socket?.destroy();
    if (this.isClosed) return;
    this.isClosed = true;
    this.decoder.stop();
    this.host.closed(this, reason, true);
  }

  private readonly onFrame = (msg: WireMessage): void => {
    if (!this.greeted) {
      this.greeted = true;
      if (msg.t === HELLO) {
        if (msg.lane === 'control') this.lane = 'control';
        this.host.greeted(this);
        return;
      }
      this.host.greeted(this);
    }
    this.host.deliver(this, msg);
    // Past the turn's budget the rest of what was read waits (in the decoder) for the next turn.
    this.host.readEnd(this);
  };

  private readonly onFrameError = (err: FrameError): void => {
    this.host.log('warn', `${this.remote}: ${err.message}`);
    this.send({ t: 'err', code: err.code, msg: err.message });
    if (err.fatal) this.shutdown(err.message);
  };

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.host.markDirty(this);
  }

  /** @internal Writes what is queued, in one write. */
  flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (!socket || !this.isConnected || socket.destroyed || this.queue.length === 0) return;
    const data = this.queue.length === 1 ? this.queue[0] : Buffer.concat(this.queue, this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    socket.write(data);
    this.releaseIfDrained();
  }

  private releaseIfDrained(): void {
    const socket = this.socket;
    if (!socket || socket.writableNeedDrain || this.queuedBytes > this.host.highWaterBytes) return;
    this.host.drained(this);
  }

  private endSocket(): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    this.flush();
    socket.end();
    // Keep reading (and discarding) so the peer's FIN is seen; closing with unread input would send RST.
    socket.resume();
    this.lingerTimer = setTimeout(() => socket.destroy(), LINGER_MS);
    this.lingerTimer.unref();
  }
}

/** Transport over TCP: length-prefixed MessagePack frames, pooled outgoing links, write batching, backpressure. */
export class TcpTransport implements Transport {
  private readonly host: LinkHost;
  private readonly connectTimeoutMs: number;
  private readonly reconnectDelayMs: number;
  private readonly log: TransportLog;
  private server: net.Server | null = null;
  private boundAddress: string | null = null;
  private isClosed = false;
  private readonly incoming = new Set<TcpLink>();
  private readonly outgoingLinks = new Set<TcpLink>();
  private readonly pool = new Map<string, TcpLink>();
  private readonly lastFailure = new Map<string, number>();
  private readonly backedUpLinks = new Set<TcpLink>();
  private readonly turnBudgetMs: number;
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
    this.reconnectDelayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
    this.turnBudgetMs = options.turnBudgetMs ?? DEFAULT_TURN_BUDGET_MS;
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
    const server = net.createServer((socket) => this.accept(socket));
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

  /** Returns the open pooled link to address, or a fresh one that dials (after reconnectDelayMs since a failure). */
  /** Closes the pooled outgoing link to address (queued frames are dropped), if there is one. */
  disconnect(address: string): void {
    for (const key of [address, `control|${address}`]) {
      const link = this.pool.get(key);
      if (link !== undefined && !link.closed) link.fail(`disconnected from ${address}`);
    }
  }

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
    // The first frame tells the receiver which lane this connection is.
    if (lane === 'control') link.send({ t: HELLO, lane });
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

  /** Stops listening and closes every link (flushing connected ones); resolves when all sockets are closed. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
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
    const socket = net.connect({ host: target.host, port: target.port });
    this.track(socket);
    link.attach(socket, false);
    link.dialTimer = setTimeout(() => {
      socket.destroy(new Error(`connect to ${address} timed out after ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    socket.once('connect', () => {
      this.lastFailure.delete(address);
      this.log('debug', `connected to ${address}`);
    });
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
    if (this.yielded.size > 0) {
      this.readStart();
      for (const link of [...this.yielded]) {
        if (performance.now() - (this.turnStart ?? 0) >= this.turnBudgetMs) break;
        this.yielded.delete(link);
        link.resumeReading();
        if (!link.closed && this.yielded.has(link)) break;
      }
    }
    this.endingTurn = false;
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
      for (const incoming of this.incoming) if (incoming.lane !== 'control') incoming.pauseReading();
    }
  }

  private onDrained(link: TcpLink): void {
    if (!link.outgoing) {
      if (!link.readPaused) return;
      link.readPaused = false;
      this.host.scheduleResume(link);
      return;
    }
    if (this.backedUpLinks.delete(link) && this.backedUpLinks.size === 0) this.resumeAllIncoming();
  }

  private resumeAllIncoming(): void {
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
