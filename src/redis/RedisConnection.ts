import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Tagged, WireMessage } from '../protocol/wire/messages.js';
import {
  arrayReply,
  bulkReply,
  errorReply,
  integerReply,
  mapReply,
  type RespLimits,
  RespParser,
  RespProtocolError,
  type RespVersion,
  simpleString,
} from '../transport/RespCodec.js';
import type { Link } from '../transport/Transport.js';
import {
  type CommandHost,
  OK,
  type OpAnswer,
  type OpsPlan,
  planCommandOf,
  wrongArity,
} from './RedisCommands.js';
import { errorOfAnswer, routeError } from './redisErrors.js';

/** What a connection needs from its door: the place's node and the door's settings. */
export interface DoorHost extends CommandHost {
  /** Hands a client request to the place (PlaceNode.receive: checked, logged in, then stepped). */
  receive(link: Link, msg: WireMessage): void;
  /** Sends what the place decided (PlaceNode.drain). */
  drain(): void;
  /** True when clients must log in (AUTH) first. */
  readonly usersOn: boolean;
  readonly limits: RespLimits;
  /** The store's key and value limits (a command over them is refused whole). */
  readonly limitsOfStore: { maxKeyBytes: number; maxValueBytes: number };
  /** Commands a connection may have waiting for answers before it stops reading. */
  readonly maxPipeline: number;
  /** How long (ms) a request refused before it ran (no lease, say) is sent again before the refusal is the answer. */
  readonly retryUnavailableMs: number;
  /** The connection closed. */
  closed(c: RedisConnection): void;
  /** The place may forget a link (its login) for good: closed or replaced. */
  forget(link: Link): void;
  /** A read begins: opens this event-loop turn's reading budget if none is open. */
  readBegins(): void;
  /** True when this turn's budget is spent: the connection then waits for the next turn (resumeTurn). */
  turnSpent(c: RedisConnection): boolean;
}

/** A command's place in the connection's reply order: its reply, or the answers it still waits for. */
interface Slot {
  reply: Buffer | null;
  plan: OpsPlan | null;
  answers: OpAnswer[];
  waiting: number;
  firstId: number;
  /** The requests sent for the plan's operations (sent again after a refusal that ran nothing). */
  sent: WireMessage[];
  /** When the command's operations were first sent (door clock, ms). */
  sentAtMs: number;
  /** The protocol in force when the command came (a later HELLO does not change its reply). */
  version: RespVersion;
}

/** A command, or bad input to answer in its turn, held while a login is checked or requests wait to be sent again. */
type Held = Buffer[] | RespProtocolError;

/** A link as the place sees this connection (PlaceNode keeps a login per link; AUTH makes a new one). */
class DoorLink implements Link {
  readonly lane = 'data' as const;
  readonly peerRole = 'client' as const;
  readonly dialerAddress = null;
  /** Set when the login it was made for failed: the connection goes on with its old link. */
  dropped = false;
  /** Set when a later login (AUTH, RESET) replaced it: closing it no longer closes the connection. */
  retired = false;

  constructor(
    private readonly conn: RedisConnection,
    readonly remote: string,
  ) {}

  get closed(): boolean {
    return this.dropped || this.retired || this.conn.socketClosed;
  }

  send(msg: Tagged): void {
    this.conn.answer(this, msg as WireMessage);
  }

  close(): void {
    this.conn.linkClosed(this);
  }
}

/** Unwritten reply bytes past which a connection stops reading until its replies are written. */
const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;
/** Commands held while a login is checked. */
const MAX_HELD = 1024;
const PRE_LOGIN_LIMITS: RespLimits = {
  maxBulkBytes: 16 * 1024,
  maxArrayLength: 16,
  maxInlineBytes: 16 * 1024,
  maxCommandBytes: 64 * 1024,
};
/** Keys one command may name (MGET, MSET, DEL, EXISTS): each is a request in flight at the primary. */
const MAX_KEYS_PER_COMMAND = 4096;
/** How long a request refused before it ran waits before it is sent again. */
const RETRY_DELAY_MS = 25;
let nextConnectionId = 1;

/**
 * One RESP client connection: parses its commands, answers connection commands itself, hands key
 * operations to the place through a Link of its own, and writes the replies in the order of the
 * commands (answers from different partitions come back in any order), together once per turn.
 */
export class RedisConnection {
  readonly id = nextConnectionId++;
  private version: RespVersion = 2;
  private name: Buffer | null = null;
  private link: DoorLink;
  /** A login being checked: its link, and the commands that came after it. */
  private login: { link: DoorLink; hello: RespVersion | null; held: Held[] } | null = null;
  private authed: boolean;
  private readonly parser: RespParser;
  private readonly queue: Slot[] = [];
  private head = 0;
  private readonly byId = new Map<number, Slot>();
  private nextId = 1;
  private readonly clientId = `redis-${randomBytes(9).toString('base64url')}`;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private closing = false;
  private closedNow = false;
  private paused = false;
  /** Paused for the rest of this turn (the door's reading budget was spent). */
  private yielded = false;

  constructor(
    private readonly host: DoorHost,
    private readonly socket: Socket,
  ) {
    const remote = `${socket.remoteAddress}:${socket.remotePort} (RESP)`;
    this.link = new DoorLink(this, remote);
    this.authed = !host.usersOn;
    // Not logged in yet: small commands only, as Redis takes from unauthenticated clients.
    this.parser = new RespParser(this.authed ? host.limits : PRE_LOGIN_LIMITS);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('drain', () => this.maybeResume());
    // The client sent all it will (a half-close): its replies are still written, then the socket ends.
    socket.on('end', () => this.closeAfterReplies());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closedNow = true;
      host.forget(this.link);
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.byId.clear();
      host.closed(this);
    });
  }

  /** True once the socket closed (answers to it are dropped). */
  get socketClosed(): boolean {
    return this.closedNow;
  }

  /** True once the socket closed or is closing (answers to it are dropped). */
  get isClosed(): boolean {
    return this.closedNow || this.closing;
  }

  /** The place's address this connection came from, as CLIENT and INFO show it. */
  get remote(): string {
    return this.link.remote;
  }

  private received(chunk: Buffer): void {
    this.host.readBegins();
    this.parser.push(
      chunk,
      (args) => this.command(args),
      (err) => this.protocolError(err),
    );
    this.host.drain();
    this.flush();
    if (
      !this.paused &&
      (this.pending() >= this.host.maxPipeline || this.socket.writableLength >= MAX_UNWRITTEN_BYTES)
    ) {
      // Bounded: a client that sends without reading its replies waits for them.
      this.paused = true;
      this.socket.pause();
    } else if (!this.yielded && !this.closing && this.host.turnSpent(this)) {
      // One busy client must not hold the loop: heartbeats and the other clients get their turn.
      this.yielded = true;
      this.socket.pause();
    }
  }

  /** A new event-loop turn: a connection that yielded reads again (unless held for another reason). */
  resumeTurn(): void {
    this.yielded = false;
    if (!this.paused && !this.closing && !this.closedNow) this.socket.resume();
  }

  private protocolError(err: RespProtocolError): void {
    const hold = this.login !== null ? this.login.held : this.holding() ? this.afterRetry : null;
    if (hold !== null) {
      // Answered in its turn, after the commands before it.
      hold.push(err);
      if (err.fatal) this.socket.pause();
      return;
    }
    this.done(errorReply(`ERR ${err.message}`));
    if (err.fatal) this.closeAfterReplies();
  }

  private command(args: Buffer[]): void {
    if (this.closing) return;
    if (this.holding()) {
      this.afterRetry.push(args);
      if (!this.paused && this.afterRetry.length >= this.host.maxPipeline) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    if (this.login !== null) {
      if (this.login.held.length >= MAX_HELD) {
        this.done(errorReply('ERR too many commands sent while the login is checked'));
        this.closeAfterReplies();
        return;
      }
      this.login.held.push(args);
      return;
    }
    const name = args[0]!.toString('latin1').toLowerCase();
    switch (name) {
      case 'auth': {
        this.auth(args, null);
        return;
      }
      case 'hello': {
        this.hello(args);
        return;
      }
      case 'quit':
        this.done(OK);
        this.closeAfterReplies();
        return;
      case 'reset':
        this.version = 2;
        this.name = null;
        if (this.host.usersOn) {
          this.authed = false;
          this.parser.setLimits(PRE_LOGIN_LIMITS);
          this.link.retired = true;
          this.host.forget(this.link);
          this.link = new DoorLink(this, this.link.remote);
        }
        this.done(simpleString('RESET'));
        return;
    }
    if (!this.authed) {
      this.done(errorReply('NOAUTH Authentication required.'));
      return;
    }
    switch (name) {
      case 'client': {
        this.done(this.client(args));
        return;
      }
      case 'select':
        if (args.length !== 2) {
          this.done(wrongArity('select'));
          return;
        }
        this.done(
          args[1]!.toString('latin1') === '0' ? OK : errorReply('ERR SELECT is not allowed in cluster mode'),
        );
        return;
    }
    const plan = planCommandOf(name, args, this.version, this.host);
    if (Buffer.isBuffer(plan)) this.done(plan);
    else this.run(plan);
  }

  /** Hands a plan's operations to the place, after checking here that they belong here. */
  private run(plan: OpsPlan): void {
    const place = this.host.place;
    const refused = routeError(place, plan.slot) ?? this.tooLarge(plan);
    if (refused !== null) {
      this.done(refused);
      return;
    }
    const n = plan.ops.length;
    const slot: Slot = {
      reply: null,
      plan,
      answers: new Array(n),
      waiting: n,
      firstId: this.nextId,
      sent: new Array(n),
      sentAtMs: performance.now(),
      version: this.version,
    };
    this.queue.push(slot);
    const tv = place.tableData?.version ?? 0;
    // Requests below the oldest still waiting are never sent again: the place may forget their outcomes.
    const lo = this.head < this.queue.length ? this.oldestWaiting() : slot.firstId;
    for (let i = 0; i < n; i++) {
      const op = plan.ops[i]!;
      const id = this.nextId++;
      this.byId.set(id, slot);
      const msg: WireMessage = { t: 'op', id, c: this.clientId, lo, tv, o: op.o, k: op.k };
      if (op.v !== undefined) msg.v = op.v;
      if (op.p !== undefined) msg.p = op.p;
      if (op.a !== undefined) msg.a = op.a;
      slot.sent[i] = msg;
      this.host.receive(this.link, msg);
      // Refused at once (its role, say): the operations after it are not sent.
      if (slot.reply !== null) break;
    }
  }

  /**
   * A command the place would refuse part of, refused whole before any of it is sent: too many keys
   * for one command, or a key or value over the store's limits (so an MSET never half-applies for it).
   */
  private tooLarge(plan: OpsPlan): Buffer | null {
    if (plan.ops.length > MAX_KEYS_PER_COMMAND)
      return errorReply(
        `ERR a command may name at most ${MAX_KEYS_PER_COMMAND} keys here; it named ${plan.ops.length}`,
      );
    if (plan.ops.length === 1) return null;
    const { maxKeyBytes, maxValueBytes } = this.host.limitsOfStore;
    for (const op of plan.ops) {
      const keyBytes = Buffer.byteLength(op.k);
      if (keyBytes > maxKeyBytes)
        return errorReply(`ERR key of ${keyBytes} bytes exceeds the limit of ${maxKeyBytes} bytes`);
      if (op.v !== undefined && op.v.length > maxValueBytes)
        return errorReply(`ERR value of ${op.v.length} bytes exceeds the limit of ${maxValueBytes} bytes`);
    }
    return null;
  }

  /** Requests refused before they ran, to send again (in id order) when the retry timer fires. */
  private retrying: WireMessage[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  /** Commands that came while requests wait to be sent again: run after them, in order. */
  private afterRetry: Held[] = [];

  private retryLater(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closedNow) return;
      const again = this.retrying.sort((a, b) => (a.id as number) - (b.id as number));
      this.retrying = [];
      const tv = this.host.place.tableData?.version ?? 0;
      for (const msg of again) {
        msg.tv = tv;
        this.host.receive(this.link, msg);
      }
      this.runAfterRetry();
      this.flush();
    }, RETRY_DELAY_MS);
  }

  /**
   * Runs the commands held behind retries, in one go after the retries were sent: in one turn the place's
   * state cannot let a later request run where an earlier one, refused, would wait again.
   */
  private runAfterRetry(): void {
    const held = this.afterRetry;
    this.afterRetry = [];
    this.releasing = true;
    try {
      for (const item of held) this.replay(item);
    } finally {
      this.releasing = false;
    }
    this.host.drain();
    if (this.paused) this.maybeResume();
  }

  /** True while requests wait to be sent again: the commands after them wait too. */
  private holding(): boolean {
    return this.retryTimer !== null || (this.afterRetry.length > 0 && !this.releasing);
  }

  /** A held command or bad input, taken in its turn. */
  private replay(item: Held): void {
    if (item instanceof RespProtocolError) this.protocolError(item);
    else this.command(item);
  }

  /** True while held commands run (they are not held again). */
  private releasing = false;

  private oldestWaiting(): number {
    for (let i = this.head; i < this.queue.length; i++) {
      const s = this.queue[i]!;
      if (s.reply === null) return s.firstId;
    }
    return this.nextId;
  }

  /** The reply of a plan whose operations all succeeded; a failure to build it is an error reply, never a stall. */
  private finish(slot: Slot): Buffer {
    try {
      return slot.plan!.finish(slot.answers, slot.version, slot.plan!.data);
    } catch (err) {
      return errorReply(`ERR could not build the reply: ${(err as Error).message}`);
    }
  }

  /** An answer from the place over one of this connection's links. */
  answer(link: DoorLink, msg: WireMessage): void {
    if (this.closedNow) return;
    const id = msg.id;
    if (typeof id === 'number' && this.byId.has(id) && (msg.t === 'res' || msg.t === 'err')) {
      const slot = this.byId.get(id)!;
      this.byId.delete(id);
      if (slot.reply === null) {
        if (
          msg.t === 'err' &&
          msg.code === 'unavailable' &&
          performance.now() - slot.sentAtMs < this.host.retryUnavailableMs
        ) {
          // Refused before it ran (no lease for a moment, a table to catch up with): sent again
          // shortly, as a cluster client would, and the commands after it wait, so they keep their order.
          this.byId.set(id, slot);
          this.retrying.push(slot.sent[id - slot.firstId]!);
          this.retryLater();
          return;
        }
        if (msg.t === 'err') {
          slot.reply = errorOfAnswer(
            this.host.place,
            String(msg.code),
            String(msg.msg),
            msg.to,
            slot.plan!.slot,
          );
          slot.waiting = 0;
        } else {
          slot.answers[id - slot.firstId] = msg as OpAnswer;
          if (--slot.waiting === 0) slot.reply = this.finish(slot);
        }
        if (slot.reply !== null) {
          for (let i = slot.firstId; i < slot.firstId + slot.answers.length; i++) this.byId.delete(i);
          this.scheduleFlush();
        }
      }
      return;
    }
    const login = this.login;
    if (login !== null && link === login.link) {
      if (msg.t === 'authOk') this.loginDone(true);
      else if (msg.t === 'err') this.loginDone(false);
    }
  }

  /** The place closed a link: a failed login's (the connection goes on) or a live one's (it ends). */
  linkClosed(link: DoorLink): void {
    if (this.login !== null && link === this.login.link) return;
    if (link.dropped || link.retired) return;
    this.closeAfterReplies();
  }

  /** AUTH [user] password, or HELLO's AUTH user password: checked by the place's users (PlaceNode). */
  private auth(args: Buffer[], hello: RespVersion | null, at = 1): void {
    const count = args.length - at;
    if (hello === null && (count < 1 || count > 2)) {
      this.done(wrongArity('auth'));
      return;
    }
    if (!this.host.usersOn) {
      this.done(
        errorReply(
          'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
        ),
      );
      return;
    }
    const user = count === 2 ? args[at]!.toString('utf8') : 'default';
    const password = args[at + count - 1]!.toString('utf8');
    const link = new DoorLink(this, this.link.remote);
    this.login = { link, hello, held: [] };
    // The place answers authOk or an error over the new link; the commands after wait for it.
    const slot: Slot = {
      reply: null,
      plan: null,
      answers: [],
      waiting: 1,
      firstId: 0,
      sent: [],
      sentAtMs: 0,
      version: this.version,
    };
    this.queue.push(slot);
    this.loginSlot = slot;
    this.host.receive(link, { t: 'auth', user, password });
  }

  private loginSlot: Slot | null = null;
  /** HELLO's SETNAME, taken once its AUTH succeeds. */
  private nameAfterLogin: Buffer | null = null;

  private loginDone(ok: boolean): void {
    const login = this.login!;
    const slot = this.loginSlot!;
    this.login = null;
    this.loginSlot = null;
    if (ok) {
      // The old link's login is over: the place forgets it (its answers in flight still come here).
      this.link.retired = true;
      this.host.forget(this.link);
      this.link = login.link;
      if (this.nameAfterLogin !== null) this.name = this.nameAfterLogin;
      this.authed = true;
      this.parser.setLimits(this.host.limits);
      if (login.hello !== null) this.version = login.hello;
      slot.reply = login.hello !== null ? this.helloReply() : OK;
    } else {
      login.link.dropped = true;
      slot.reply = errorReply('WRONGPASS invalid username-password pair or user is disabled.');
    }
    this.nameAfterLogin = null;
    slot.waiting = 0;
    for (const item of login.held) this.replay(item);
    this.host.drain();
    this.scheduleFlush();
  }

  /** HELLO [protover [AUTH user password] [SETNAME name]]. */
  private hello(args: Buffer[]): void {
    let version = this.version;
    let i = 1;
    if (args.length > 1) {
      const v = args[1]!.toString('latin1');
      if (v !== '2' && v !== '3') {
        if (!/^\d+$/.test(v)) {
          this.done(errorReply('ERR Protocol version is not an integer or out of range'));
          return;
        }
        this.done(errorReply('NOPROTO unsupported protocol version'));
        return;
      }
      version = Number(v) as RespVersion;
      i = 2;
    }
    let auth: [Buffer, Buffer] | null = null;
    let name: Buffer | null = null;
    for (; i < args.length; i++) {
      const opt = args[i]!.toString('latin1').toLowerCase();
      if (opt === 'auth' && i + 2 < args.length) {
        auth = [args[i + 1]!, args[i + 2]!];
        i += 2;
      } else if (opt === 'setname' && i + 1 < args.length) name = args[++i]!;
      else {
        this.done(errorReply(`ERR Syntax error in HELLO option '${opt.slice(0, 64)}'`));
        return;
      }
    }
    if (auth !== null) {
      if (name !== null) this.nameAfterLogin = name;
      this.auth([Buffer.from('hello'), ...auth], version);
      return;
    }
    if (!this.authed) {
      this.done(
        errorReply(
          'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
        ),
      );
      return;
    }
    if (name !== null) this.name = name;
    this.version = version;
    this.done(this.helloReply());
  }

  private helloReply(): Buffer {
    const v = this.version;
    return mapReply(
      [
        [bulkReply('server', v), bulkReply('redis', v)],
        [bulkReply('version', v), bulkReply(REDIS_VERSION, v)],
        [bulkReply('proto', v), integerReply(v)],
        [bulkReply('id', v), integerReply(this.id)],
        [bulkReply('mode', v), bulkReply('cluster', v)],
        [bulkReply('role', v), bulkReply('master', v)],
        [bulkReply('modules', v), arrayReply([], v)],
      ],
      v,
    );
  }

  /** CLIENT SETNAME, GETNAME, SETINFO, ID, INFO. */
  private client(args: Buffer[]): Buffer {
    const sub = (args[1]?.toString('latin1') ?? '').toLowerCase();
    const v = this.version;
    switch (sub) {
      case 'setname':
        if (args.length !== 3) return wrongArity('client|setname');
        if (/[\s]/.test(args[2]!.toString('latin1')))
          return errorReply('ERR Client names cannot contain spaces, newlines or special characters.');
        this.name = args[2]!.length === 0 ? null : args[2]!;
        return OK;
      case 'getname':
        return bulkReply(this.name, v);
      case 'setinfo':
        return args.length === 4 ? OK : wrongArity('client|setinfo');
      case 'id':
        return integerReply(this.id);
      case 'info':
        return bulkReply(
          `id=${this.id} addr=${this.socket.remoteAddress}:${this.socket.remotePort} name=${this.name?.toString('utf8') ?? ''} resp=${v}\n`,
          v,
        );
      default:
        return errorReply(
          `ERR unknown subcommand '${sub.slice(0, 64)}'. Try CLIENT SETNAME, GETNAME, SETINFO, ID or INFO.`,
        );
    }
  }

  /** A reply ready now, in its turn after the commands before it. */
  private done(reply: Buffer): void {
    if (this.head === this.queue.length) this.out.push(reply);
    else
      this.queue.push({
        reply,
        plan: null,
        answers: [],
        waiting: 0,
        firstId: 0,
        sent: [],
        sentAtMs: 0,
        version: 2,
      });
  }

  private pending(): number {
    return this.queue.length - this.head;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes the replies that are next in order, together. */
  private flush(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.reply !== null) {
      this.out.push(this.queue[this.head]!.reply!);
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.out.length > 0 && !this.closedNow) {
      const out = this.out;
      this.out = [];
      this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    }
    if (this.closing && this.head === this.queue.length) this.socket.end();
    this.maybeResume();
  }

  private maybeResume(): void {
    if (!this.paused || this.closing) return;
    if (this.pending() * 2 < this.host.maxPipeline && this.socket.writableLength < MAX_UNWRITTEN_BYTES) {
      this.paused = false;
      if (!this.yielded) this.socket.resume();
    }
  }

  /** Stops reading; the socket ends once every reply before is written. */
  private closeAfterReplies(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.pause();
    this.scheduleFlush();
  }

  /** Closes the connection at once (the door is stopping). */
  destroy(): void {
    this.socket.destroy();
  }
}

/** The Redis version the door reports (HELLO, INFO): the one whose commands and replies it follows. */
export const REDIS_VERSION = '7.2.0';
