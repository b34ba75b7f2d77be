import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import { EMPTY_CHUNK, encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError } from './FrameCodec.js';
import type { Lane, Link, PeerRole, Tagged, WireMessage } from './Transport.js';

/** Log sink; the transport logs peer misbehaviour and link failures, never message contents. */
export type TransportLog = (level: 'debug' | 'info' | 'warn', msg: string) => void;

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

/**
 * Type of the transport's own first frame (never handed to the receiver): a place's connections all
 * start with one, naming their lane and that a place dialled; a client's control connections too.
 */
export const HELLO = 'hello';

/**
 * With a cluster secret (no TLS), both ends of a place's connection prove they know it. The dialer's
 * hello carries a fresh nonce; the side that accepted answers with a challenge: its own fresh nonce,
 * and HMAC-SHA256(secret, acceptor | the dialer's nonce | its address). The dialer checks that
 * before it takes anything on the connection, and answers with HMAC-SHA256(secret, nonce | its
 * address); the acceptor holds what the dialer sends until then. Never handed to the receiver.
 */
export const CHALLENGE = 'ch';
export const PROOF = 'pr';
/** What a place's connection may send before its proof, in frames and bytes; past it it is refused. */
const MAX_HELD_BEFORE_PROOF = 1024;
const MAX_HELD_BYTES_BEFORE_PROOF = 8 * 1024 * 1024;
/** A place's connection that has not proved it knows the secret this long after its hello is refused. */
const PROOF_DEADLINE_MS = 5000;

/** The transport's own probe of an idle link, and its answer (never handed to the receiver). */
export const KEEPALIVE = 'ka';
export const KEEPALIVE_ANSWER = 'kb';

export function poolKey(address: string, lane: Lane): string {
  return lane === 'data' ? address : `${lane}|${address}`;
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What a link needs from its transport. */
export interface LinkHost {
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
  /** An incoming link's first frame came (claiming a place, or not): null admits it, else why not. */
  admit(link: TcpLink, claimsPlace: boolean): { code: string; msg: string } | null;
  /** A cluster secret is set: places' connections must prove they know it. */
  readonly secretRequired: boolean;
  /** Dialer: the proof for a challenge's nonce (null without a secret). */
  proof(nonce: string): string | null;
  /** Acceptor: whether mac proves that the place at from knows the secret, for this nonce. */
  checkProof(nonce: string, from: string, mac: unknown): boolean;
  /** Acceptor: its own proof, for the dialer's nonce (null without a secret). */
  acceptorProof(dialerNonce: string): string | null;
  /** Dialer: whether ap proves that the place it dialled at address knows the secret, for its nonce. */
  checkAcceptorProof(nonce: string, address: string, ap: unknown): boolean;
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
  /** Who is at the other end: a place for links this side dialled; an incoming one says (HELLO). */
  peerRole: PeerRole;
  /** Incoming from a place: the address its first frame named (see Link.dialerAddress). */
  dialerAddress: string | null = null;
  /** Incoming: the first frame was seen (a lane greeting, or the first message). */
  private greetedYet: boolean;
  /** @internal When bytes last arrived, and last left (performance.now()). */
  lastHeardAt = performance.now();
  lastSentAt = performance.now();
  /** @internal The peer probes this link when idle (it runs keepalive): its silence then means it is gone. */
  peerProbes = false;
  /** Incoming from a place, with a secret set: the challenge's nonce and what came before the proof. */
  private challenge: string | null = null;
  private heldBeforeProof: WireMessage[] | null = null;
  private heldBytes = 0;
  private proofTimer: NodeJS.Timeout | null = null;
  /** Outgoing, with a secret: the nonce its hello carried, until the accepting place proved itself. */
  acceptorUnproved: string | null = null;

  /** @internal */
  constructor(
    private readonly host: LinkHost,
    readonly remote: string,
    readonly outgoing: boolean,
    lane: Lane = 'data',
  ) {
    this.decoder = new FrameDecoder(host.maxFrameBytes);
    this.lane = lane;
    this.peerRole = outgoing ? 'place' : 'client';
    this.greetedYet = outgoing;
  }

  /**
   * Over TLS: the organizational unit of the peer's certificate when the CA vouches for it ('place'
   * or 'client'), null when the peer showed none or an untrusted one. Without TLS: undefined.
   */
  get peerUnit(): string | null | undefined {
    const s = this.socket;
    if (!(s instanceof TLSSocket)) return undefined;
    if (!s.authorized) return null;
    const ou = s.getPeerCertificate().subject?.OU;
    return typeof ou === 'string' ? ou : null;
  }

  /** True once the link is closed or failed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** True once the first frame said which lane this is (always, for links this side dialled). */
  get greeted(): boolean {
    return this.greetedYet;
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
  attach(
    socket: net.Socket,
    connected: boolean,
    connectEvent: 'connect' | 'secureConnect' = 'connect',
  ): void {
    this.socket = socket;
    this.isConnected = connected;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.isClosed) return;
      this.lastHeardAt = performance.now();
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
      socket.once(connectEvent, () => {
        this.isConnected = true;
        this.lastHeardAt = performance.now();
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
    if (this.proofTimer !== null) clearTimeout(this.proofTimer);
    this.proofTimer = null;
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
    if (this.proofTimer !== null) clearTimeout(this.proofTimer);
    this.proofTimer = null;
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
    if (!this.greetedYet) {
      this.greetedYet = true;
      const refusal = this.host.admit(this, msg.t === HELLO && msg.role === 'place');
      if (refusal !== null) {
        this.host.log('warn', `refused ${this.remote}: ${refusal.msg}`);
        this.send({ t: 'err', code: refusal.code, msg: refusal.msg });
        this.shutdown(refusal.msg);
        return;
      }
      if (msg.t === HELLO) {
        if (msg.lane === 'control') this.lane = 'control';
        if (msg.role === 'place') {
          this.peerRole = 'place';
          // A place that names no address is known to nobody ('' matches no member).
          this.dialerAddress = typeof msg.from === 'string' && msg.from.length <= 1024 ? msg.from : '';
          if (this.host.secretRequired) {
            this.challenge = randomBytes(16).toString('hex');
            this.heldBeforeProof = [];
            this.heldBytes = 0;
            const ap =
              typeof msg.n === 'string' && msg.n.length <= 64 ? this.host.acceptorProof(msg.n) : null;
            this.send({ t: CHALLENGE, n: this.challenge, ap });
            this.proofTimer = setTimeout(
              () => this.refuse(`no proof of the cluster secret within ${PROOF_DEADLINE_MS} ms`),
              PROOF_DEADLINE_MS,
            );
          }
        }
        this.host.greeted(this);
        return;
      }
      this.host.greeted(this);
    }
    if (this.acceptorUnproved !== null && this.outgoing) {
      // Nothing is taken from the place dialled before it proves it knows the secret (its challenge).
      const nonce = this.acceptorUnproved;
      if (msg.t === CHALLENGE && this.host.checkAcceptorProof(nonce, this.remote, msg.ap)) {
        this.acceptorUnproved = null;
        if (typeof msg.n === 'string') this.send({ t: PROOF, mac: this.host.proof(msg.n) });
        return;
      }
      const why =
        msg.t === CHALLENGE
          ? `the place at ${this.remote} could not prove it knows the cluster secret`
          : `the place at ${this.remote} answered without proving it knows the cluster secret`;
      if (msg.t === 'err') this.host.deliver(this, msg);
      this.host.log('warn', why);
      this.fail(why);
      return;
    }
    if (msg.t === CHALLENGE) {
      // Without a secret the answer says so, and the other side refuses at once, saying why.
      if (this.outgoing && typeof msg.n === 'string') this.send({ t: PROOF, mac: this.host.proof(msg.n) });
      return;
    }
    if (this.heldBeforeProof !== null) {
      this.awaitProof(msg);
      return;
    }
    if (msg.t === KEEPALIVE) {
      this.peerProbes = true;
      this.send({ t: KEEPALIVE_ANSWER });
      return;
    }
    if (msg.t === KEEPALIVE_ANSWER) return;
    this.host.deliver(this, msg);
    // Past the turn's budget the rest of what was read waits (in the decoder) for the next turn.
    this.host.readEnd(this);
  };

  /** Holds a place's frames until its proof; a right one lets them through, in order. */
  private awaitProof(msg: WireMessage): void {
    const held = this.heldBeforeProof!;
    if (msg.t !== PROOF) {
      this.heldBytes += this.decoder.lastFrameBytes;
      if (held.length < MAX_HELD_BEFORE_PROOF && this.heldBytes <= MAX_HELD_BYTES_BEFORE_PROOF) {
        held.push(msg);
        return;
      }
      this.refuse('sent too much before proving it knows the cluster secret');
      return;
    }
    if (this.proofTimer !== null) clearTimeout(this.proofTimer);
    this.proofTimer = null;
    if (!this.host.checkProof(this.challenge!, this.dialerAddress ?? '', msg.mac)) {
      const what = msg.mac === null || msg.mac === undefined ? 'it has none' : 'its proof is wrong';
      this.refuse(`a place must prove it knows this cluster's secret (--cluster-secret-file): ${what}`);
      return;
    }
    this.heldBeforeProof = null;
    this.challenge = null;
    for (const m of held) {
      if (this.isClosed) return;
      this.onFrame(m);
    }
  }

  private refuse(why: string): void {
    if (this.isClosed) return;
    if (this.proofTimer !== null) clearTimeout(this.proofTimer);
    this.proofTimer = null;
    this.host.log('warn', `refused ${this.remote}: ${why}`);
    this.heldBeforeProof = null;
    this.send({ t: 'err', code: 'unauthenticated', msg: why });
    this.shutdown(why);
  }

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
    this.lastSentAt = performance.now();
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
