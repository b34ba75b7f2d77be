import { Packr } from 'msgpackr';
import '../protocol/wire/inlineValue.js';
import { seededRandom } from '../util/random.js';
import type { Scheduler } from '../util/Scheduler.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameError } from './FrameCodec.js';
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

const packr = new Packr({ useRecords: false });

/** Something due at a virtual time: a message delivery or a timer. Ordered by (at, seq). */
interface Due {
  at: number;
  seq: number;
}

interface Timer extends Due {
  every: number;
  fn: () => void;
  cancelled: boolean;
  /** The endpoint whose process runs it; a paused owner's timers wait. */
  owner: string | null;
}

interface InFlight extends Due {
  to: MemoryTransport;
  via: MemoryLink;
  /** The encoded message (wire mode), or the message itself (shared mode). */
  bytes: Buffer | null;
  msg: WireMessage | null;
  /** The sender closed the connection after what it sent before (a FIN): `via` closes on arrival. */
  fin?: true;
}

/** A binary min-heap on (at, seq). */
class DueHeap<T extends Due> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    // Sift up with a hole: parents move down, x is written once where it belongs.
    const a = this.items;
    let i = a.length;
    a.push(x);
    const at = x.at;
    const seq = x.seq;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (!(at < p.at || (at === p.at && seq < p.seq))) break;
      a[i] = p;
      i = parent;
    }
    a[i] = x;
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      // Sift down with a hole: the smaller child moves up until `last` fits.
      const at = last.at;
      const seq = last.seq;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        let ca = a[l]!;
        if (r < n) {
          const rb = a[r]!;
          if (rb.at < ca.at || (rb.at === ca.at && rb.seq < ca.seq)) {
            c = r;
            ca = rb;
          }
        }
        if (!(ca.at < at || (ca.at === at && ca.seq < seq))) break;
        a[i] = ca;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

function before(x: Due, y: Due): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/**
 * A cheap test: true when msg may encode to more than half of limit (its keys and values counted
 * roughly), so that only such messages are encoded to be measured. Only messages carrying users'
 * keys and values can be large in any simulated cluster.
 */
function mayBeLarge(msg: WireMessage, limit: number): boolean {
  let items: unknown;
  switch (msg.t) {
    case 'replBatch':
      items = msg.es;
      break;
    case 'snap':
      items = msg.kv;
      break;
    case 'op':
    case 'res':
    case 'repl':
      return (byteLength(msg.v) + byteLength(msg.x) + byteLength(msg.a)) * 2 > limit;
    default:
      return false;
  }
  if (!Array.isArray(items)) return false;
  let bytes = 0;
  for (let i = 0; i < items.length; i++) bytes += byteLength(items[i]) + 9;
  return bytes * 2 > limit;
}

/**
 * A shallow copy of msg ({ ...msg }). One spread per common type: each spread site then sees few
 * shapes and stays fast, where a single site seeing every message's shape is megamorphic and slow.
 */
function shallowCopy(msg: WireMessage): WireMessage {
  switch (msg.t) {
    case 'res':
      return { ...msg };
    case 'op':
      return { ...msg };
    case 'replAcks':
      return { ...msg };
    case 'replBatch':
      return { ...msg };
    case 'snap':
      return { ...msg };
    case 'snapAck':
      return { ...msg };
    case 'hb':
      return { ...msg };
    case 'hbAck':
      return { ...msg };
    case 'err':
      return { ...msg };
    case 'tableUpdate':
      return { ...msg };
    case 'tablePush':
      return { ...msg };
    case 'tableAck':
      return { ...msg };
    case 'tableGet':
      return { ...msg };
    case 'table':
      return { ...msg };
    case 'tableSame':
      return { ...msg };
    default:
      return { ...msg };
  }
}

function byteLength(v: unknown): number {
  if (v instanceof Uint8Array) return v.length;
  return typeof v === 'string' ? v.length * 3 : 0;
}

/** How the network delays messages: each takes min..max virtual ms; order within a link is kept. */
export interface Latency {
  minMs: number;
  maxMs: number;
  /** Granularity of delays (0: any value). */
  stepMs?: number;
}

/**
 * A whole network in one process with a virtual clock. Messages are encoded and decoded as on the
 * wire and delivered after a seeded delay, in order within each connection (as TCP keeps it) but in
 * any order across connections; time only moves when nothing is due sooner.
 */
export class MemoryNetwork {
  private readonly listeners = new Map<string, MemoryTransport>();
  private readonly messages = new DueHeap<InFlight>();
  private readonly timers = new DueHeap<Timer>();
  private soonQueue: { owner: string | null; fn: () => void }[] = [];
  private readonly paused = new Set<string>();
  /** Messages that reached a paused endpoint, in arrival order, delivered when it resumes. */
  private readonly held = new Map<string, InFlight[]>();
  /** Timers that came due while their owner was paused. */
  private heldTimers: Timer[] = [];
  /** Sender endpoint (or "from>to" link) -> virtual time until which what it sends does not arrive. */
  private readonly stalls = new Map<string, number>();
  /** The latest end of any stall set: once past it, every stall has ended. */
  private stallsEnd = Number.NEGATIVE_INFINITY;
  /** from -> the endpoints to which what it sends is lost: links cut one way. */
  private readonly cuts = new Map<string, Set<string>>();
  /** How many (from, to) pairs are cut: nothing is looked up per message while none is. */
  private cutCount = 0;
  private seq = 0;
  private time = 0;
  private readonly random: () => number;
  /** Delivers in random order, ignoring even the order within a connection (tests of reordering). */
  reorder = false;
  /** Drops every message for which it returns true; tests set it to cut links or hold messages. */
  drop: (from: string, to: string, msg: WireMessage) => boolean = () => false;
  /** Called with every delivered message (tracing). */
  onDeliver: ((from: string, to: string, msg: WireMessage) => void) | null = null;
  /** Called right after the receiver handled a delivered message (invariant probes). */
  onDelivered: ((to: string, msg: WireMessage) => void) | null = null;
  latency: Latency = { minMs: 0, maxMs: 0 };
  /** Who the last step ran for: the endpoint a message went to, or a timer's owner (null: unowned). */
  lastStepFor: string | null = null;
  /**
   * wire: every message is encoded and decoded as on TCP (catches what does not survive the wire).
   * shared: the receiver gets the sender's object (a client's, a shallow copy), which is faster.
   * frozen: shared, with every message frozen as it is sent, so that a sender changing a message it
   * sent, or a receiver one it got, throws (shared mode relies on neither happening).
   */
  copy: 'wire' | 'shared' | 'frozen' = 'wire';
  delivered = 0;
  /** Largest message a link carries, as TCP's frame limit: a larger one throws at send (FrameError). */
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  /** The virtual clock and timers of code that is never paused (clients, tests). */
  readonly scheduler: Scheduler = this.schedulerFor(null);

  /**
   * The clock and timers of the process behind endpoint owner: they stop while it is paused. With a
   * drift, its clock runs that much fast (positive) or slow (negative), and so do its timers.
   */
  schedulerFor(owner: string | null, drift = 0): Scheduler {
    const rate = 1 + drift;
    return {
      now: () => this.time * rate,
      every: (ms, fn) => this.addTimer(ms / rate, ms / rate, fn, owner),
      after: (ms, fn) => this.addTimer(ms / rate, 0, fn, owner),
      soon: (fn) => {
        this.soonQueue.push({ owner, fn });
      },
    };
  }

  /**
   * Simulated work, in ms, that an endpoint spends on each message it receives or sends; its process
   * can do nothing else meanwhile (messages wait, timers fire late), as with a blocked event loop.
   */
  workMs: ((endpoint: string, msg: WireMessage) => number) | null = null;
  private readonly busyUntil = new Map<string, number>();

  /**
   * Sequence numbers ahead of everything that waits for a busy process, in the order taken: its
   * timers first (Node runs timers before it polls), then its control connections' messages.
   */
  private timerFirstSeq = Number.MIN_SAFE_INTEGER;
  private controlFirstSeq = Number.MIN_SAFE_INTEGER / 2;

  /** Makes the process behind endpoint busy for ms more, from now or from when it is free. */
  occupy(endpoint: string, ms: number): void {
    if (ms <= 0) return;
    this.busyUntil.set(endpoint, Math.max(this.time, this.busyUntil.get(endpoint) ?? 0) + ms);
  }

  /** When the process behind endpoint is free again (now or earlier when it is not busy). */
  freeAt(endpoint: string): number {
    return Math.max(this.time, this.busyUntil.get(endpoint) ?? 0);
  }

  /** Simulates SIGSTOP of the process behind an endpoint: it gets no messages and runs no timers. */
  pause(name: string): void {
    this.paused.add(name);
  }

  /** Simulates SIGCONT: held messages are delivered in order and due timers fire (once each). */
  resume(name: string): void {
    this.paused.delete(name);
    const held = this.held.get(name);
    this.held.delete(name);
    // Each keeps its sequence number, so nothing sent later on its connection overtakes it.
    for (const m of held ?? []) {
      m.at = this.time;
      this.messages.push(m);
    }
    this.releaseTimers();
  }

  /**
   * Simulates a stalled connection (TCP backing off after lost packets): until untilMs, what from sends
   * to to (to every peer when to is null) does not arrive; then it arrives in order.
   */
  stall(from: string, to: string | null, untilMs: number): void {
    this.stalls.set(to === null ? from : `${from}>${to}`, untilMs);
    this.stallsEnd = Math.max(this.stallsEnd, untilMs);
  }

  private stalledUntil(from: string, to: string): number {
    const all = this.stalls.get(from) ?? 0;
    const link = this.stalls.get(`${from}>${to}`) ?? 0;
    const until = Math.max(all, link);
    if (until <= this.time) {
      this.stalls.delete(from);
      this.stalls.delete(`${from}>${to}`);
      return 0;
    }
    return until;
  }

  /**
   * Cuts the link from one endpoint to another, one way (a firewall dropping packets): what from
   * sends to to is lost, including what is already on its way.
   */
  cut(from: string, to: string): void {
    let targets = this.cuts.get(from);
    if (targets === undefined) {
      targets = new Set();
      this.cuts.set(from, targets);
    }
    if (targets.has(to)) return;
    targets.add(to);
    this.cutCount++;
  }

  /**
   * Heals a cut. Every connection between the two endpoints breaks at once, as TCP's keepalive or a
   * reset would break it: both ends learn that what they sent may be lost, before anything new
   * arrives.
   */
  heal(from: string, to: string): void {
    const targets = this.cuts.get(from);
    if (targets === undefined || !targets.delete(to)) return;
    this.cutCount--;
    if (targets.size === 0) this.cuts.delete(from);
    // Cut both ways, the connections break once, when the second direction heals.
    if (this.isCut(to, from)) return;
    this.listeners.get(from)?.closeLinksWith(to);
    this.listeners.get(to)?.closeLinksWith(from);
  }

  /** True while what from sends to to is lost. */
  isCut(from: string, to: string): boolean {
    return this.cuts.get(from)?.has(to) === true;
  }

  /** True while the endpoint is paused. */
  isPaused(name: string): boolean {
    return this.paused.has(name);
  }

  /** Returns a new endpoint named name (its address once it listens), dialling as role. */
  transport(name: string, role: PeerRole = 'client'): MemoryTransport {
    return new MemoryTransport(this, name, role);
  }

  /** Virtual milliseconds since the network was made. */
  get now(): number {
    return this.time;
  }

  /** @internal */
  register(address: string, t: MemoryTransport): void {
    if (this.listeners.has(address)) throw new Error(`address ${address} is already in use`);
    this.listeners.set(address, t);
  }

  /** @internal */
  unregister(address: string, t: MemoryTransport): void {
    if (this.listeners.get(address) === t) this.listeners.delete(address);
  }

  /** @internal */
  listenerAt(address: string): MemoryTransport | undefined {
    return this.listeners.get(address);
  }

  /** @internal */
  enqueue(to: MemoryTransport, via: MemoryLink, sent: Tagged): void {
    // What a link carries is what the receiver decodes: a tagged object of any fields.
    const msg = sent as WireMessage;
    if (this.drop(via.peer.owner.name, to.name, msg)) return;
    if (this.cutCount > 0 && this.isCut(via.peer.owner.name, to.name)) return;
    const { minMs, maxMs } = this.latency;
    // Delays come in steps of latency.stepMs, so messages share instants and time moves less often.
    const spread = maxMs > minMs ? this.random() * (maxMs - minMs) : 0;
    const step = this.latency.stepMs ?? 0;
    let at = this.time + minMs + (step > 0 ? Math.floor(spread / step) * step : spread);
    if (this.stalls.size > 0) {
      // Every stall over: forgotten at once (each would be, one by one, on the sender's next message).
      if (this.stallsEnd <= this.time) this.stalls.clear();
      else at = Math.max(at, this.stalledUntil(via.peer.owner.name, to.name));
    }
    if (this.workMs !== null) {
      // Building and sending it is work too; it leaves once the sender has done it (occupy, then
      // freeAt, in one look-up of the sender's busy time).
      const sender = via.peer.owner.name;
      const ms = this.workMs(sender, msg);
      let busy = this.busyUntil.get(sender);
      if (ms > 0) {
        busy = Math.max(this.time, busy ?? 0) + ms;
        this.busyUntil.set(sender, busy);
      }
      at = Math.max(at, Math.max(this.time, busy ?? 0));
    }
    if (this.reorder) at = this.time + this.random();
    else at = Math.max(at, via.lastArrival);
    const wire = this.copy === 'wire';
    const bytes = wire ? packr.pack(msg) : null;
    // The frame limit, as TCP has it: in shared mode only a message that may be near it is encoded.
    const size =
      bytes !== null ? bytes.length : mayBeLarge(msg, this.maxFrameBytes) ? packr.pack(msg).length : 0;
    if (size > this.maxFrameBytes)
      throw new FrameError(
        'frame_too_large',
        `message '${msg.t}' encodes to ${size} bytes, more than the limit of ${this.maxFrameBytes} bytes`,
        false,
      );
    via.lastArrival = at;
    // Shared mode: a client's message is copied, as clients reuse a request object (a retry updates its
    // tv); a place's goes as it is, since places build each message afresh and never touch one sent.
    this.messages.push({
      at,
      seq: this.seq++,
      to,
      via,
      bytes,
      msg: wire ? null : this.shared(msg, via.peer.owner.role),
    });
  }

  private shared(msg: WireMessage, senderRole: PeerRole): WireMessage {
    const out = senderRole === 'place' ? msg : shallowCopy(msg);
    return this.copy === 'frozen' ? Object.freeze(out) : out;
  }

  /** @internal The other end closed `via`'s connection: it closes after what is on its way. */
  enqueueClose(to: MemoryTransport, via: MemoryLink): void {
    const at = Math.max(this.time + this.latency.minMs, via.lastArrival);
    via.lastArrival = at;
    this.messages.push({ at, seq: this.seq++, to, via, bytes: null, msg: null, fin: true });
  }

  private addTimer(ms: number, every: number, fn: () => void, owner: string | null): () => void {
    const timer: Timer = { at: this.time + ms, seq: this.seq++, every, fn, cancelled: false, owner };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** The next timer that has not been cancelled (cancelled ones are dropped on the way). */
  private peekTimer(): Timer | undefined {
    let t = this.timers.peek();
    while (t?.cancelled) {
      this.timers.pop();
      t = this.timers.peek();
    }
    return t;
  }

  /** Virtual time of the next thing to happen (now, when a task is waiting); Infinity when nothing is due. */
  nextDue(): number {
    if (this.soonQueue.length > 0) return this.time;
    const t = this.peekTimer();
    const m = this.messages.peek();
    return Math.min(m?.at ?? Number.POSITIVE_INFINITY, t?.at ?? Number.POSITIVE_INFINITY);
  }

  /** Runs one step: a soon-task, else the earliest due message or timer. Returns false when nothing is due by maxTime. */
  step(maxTime = Number.POSITIVE_INFINITY): boolean {
    if (this.soonQueue.length > 0) {
      const ti =
        this.paused.size === 0
          ? 0
          : this.soonQueue.findIndex((t) => t.owner === null || !this.paused.has(t.owner));
      if (ti >= 0) {
        const [task] = this.soonQueue.splice(ti, 1);
        this.lastStepFor = task.owner;
        task.fn();
        return true;
      }
    }
    for (;;) {
      const m = this.messages.peek();
      const t = this.peekTimer();
      const useMessage = m !== undefined && (t === undefined || before(m, t));
      const next: Due | undefined = useMessage ? m : t;
      if (next === undefined || next.at > maxTime) return false;
      this.time = Math.max(this.time, next.at);
      if (useMessage) {
        this.messages.pop();
        const msg = m!;
        const free = this.busyUntil.get(msg.to.name);
        if (free !== undefined && free > this.time) {
          // Its process is busy: the message waits in the socket until it is free again. Data keeps its
          // sequence number, so what waits from one link comes out in the order it was sent; control
          // (its own connection) is read first once the process is free, as Node reads every ready socket.
          msg.at = free;
          if (msg.via.lane === 'control') msg.seq = this.controlFirstSeq++;
          this.messages.push(msg);
          continue;
        }
        // Checked after busy: a message that waited for a busy process keeps its place ahead of later
        // ones when the process is then stopped (held messages go back in the order they are held).
        if (this.paused.size > 0 && this.paused.has(msg.to.name)) {
          const list = this.held.get(msg.to.name) ?? [];
          list.push(msg);
          this.held.set(msg.to.name, list);
          continue;
        }
        this.delivered++;
        if (msg.fin === true) {
          msg.via.fail();
          continue;
        }
        if (msg.via.closed) continue;
        if (this.cutCount > 0 && this.isCut(msg.via.peer.owner.name, msg.to.name)) continue;
        const decoded = msg.msg ?? (packr.unpack(msg.bytes!) as WireMessage);
        this.lastStepFor = msg.to.name;
        this.onDeliver?.(msg.via.peer.owner.name, msg.to.name, decoded);
        if (this.workMs !== null) this.occupy(msg.to.name, this.workMs(msg.to.name, decoded));
        msg.to.deliver(msg.via, decoded);
        this.onDelivered?.(msg.to.name, decoded);
        return true;
      }
      const timer = this.timers.pop()!;
      if (timer.owner !== null && this.paused.size > 0 && this.paused.has(timer.owner)) {
        // Held until the owner resumes: it fires once then, as a stopped process's timers do.
        this.heldTimers.push(timer);
        continue;
      }
      const free = timer.owner === null ? undefined : this.busyUntil.get(timer.owner);
      if (free !== undefined && free > this.time) {
        // A busy process's timers fire late, but first once it is free (Node runs timers before I/O).
        timer.at = free;
        timer.seq = this.timerFirstSeq++;
        this.timers.push(timer);
        continue;
      }
      if (timer.every > 0) {
        timer.at += timer.every;
        if (timer.at <= this.time) timer.at = this.time + timer.every;
        timer.seq = this.seq++;
        this.timers.push(timer);
      } else {
        timer.cancelled = true;
      }
      this.lastStepFor = timer.owner;
      timer.fn();
      return true;
    }
  }

  /** Re-arms timers held while their owner was paused. */
  private releaseTimers(): void {
    const keep: Timer[] = [];
    for (const t of this.heldTimers) {
      if (t.cancelled) continue;
      if (t.owner !== null && this.paused.has(t.owner)) {
        keep.push(t);
        continue;
      }
      t.at = this.time;
      t.seq = this.seq++;
      this.timers.push(t);
    }
    this.heldTimers = keep;
  }

  /** Runs until cond() holds, yielding to promise callbacks between steps; throws past maxVirtualMs. */
  async runUntil(cond: () => boolean, maxVirtualMs = 60_000, maxSteps = 5_000_000): Promise<void> {
    const deadline = this.time + maxVirtualMs;
    for (let steps = 0; steps < maxSteps; steps++) {
      await Promise.resolve();
      if (cond()) return;
      if (!this.step(deadline)) {
        await Promise.resolve();
        if (cond()) return;
        if (this.time >= deadline) break;
        this.time = deadline;
      }
    }
    throw new Error(`condition not reached within ${maxVirtualMs} virtual ms`);
  }

  /** Runs for ms virtual milliseconds. */
  async runFor(ms: number): Promise<void> {
    const until = this.time + ms;
    await this.runUntil(() => this.time >= until, ms + 1);
  }
}

/** One direction of an in-memory connection; its peer is the other end. */
export class MemoryLink implements Link {
  peer!: MemoryLink;
  closed = false;
  /** Virtual time the last message sent over this link arrives; later ones arrive no earlier. */
  lastArrival = 0;

  constructor(
    readonly owner: MemoryTransport,
    private readonly net: MemoryNetwork,
    readonly remote: string,
    readonly lane: Lane,
    readonly peerRole: PeerRole,
    readonly dialerAddress: string | null = null,
  ) {}

  /** Queues msg for delivery at the other end. */
  send(msg: Tagged): void {
    if (this.closed) return;
    this.net.enqueue(this.peer.owner, this.peer, msg);
  }

  /** Closes as TCP does: what was sent before still arrives, then the other end closes too. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.net.enqueueClose(this.peer.owner, this.peer);
    this.owner.linkClosed(this, 'closed');
  }

  /** Breaks both ends at once: what is on its way is lost (a reset, a crash, a broken cut). */
  fail(): void {
    if (this.closed && this.peer.closed) return;
    this.closed = true;
    this.peer.fail();
    this.owner.linkClosed(this, 'closed');
  }
}

/** An endpoint of a MemoryNetwork, implementing the same Transport interface as TCP. */
export class MemoryTransport implements Transport {
  private handler: MessageHandler = () => {};
  private batchEndHandler: () => void = () => {};
  private closedHandler: LinkClosedHandler = () => {};
  /** Pooled outgoing links by address, one map per lane (no key string built per send). */
  private readonly outgoingData = new Map<string, MemoryLink>();
  private readonly outgoingControl = new Map<string, MemoryLink>();
  private readonly links = new Set<MemoryLink>();
  private address: string | null = null;
  /** Set by crash(): the endpoint neither sends nor receives. */
  dead = false;

  constructor(
    private readonly net: MemoryNetwork,
    readonly name: string,
    readonly role: PeerRole,
  ) {}

  /** Registers this endpoint under address. */
  async listen(address: string): Promise<void> {
    this.net.register(address, this);
    this.address = address;
  }

  /** Returns the pooled link to address; a link to nobody closes at once. */
  linkTo(address: string, lane: Lane = 'data'): Link {
    const pool = lane === 'data' ? this.outgoingData : this.outgoingControl;
    const existing = pool.get(address);
    if (existing !== undefined && !existing.closed) return existing;
    const mine = new MemoryLink(this, this.net, address, lane, 'place');
    const target = this.net.listenerAt(address);
    const reachable = target !== undefined && !target.dead && !this.dead;
    const theirs = new MemoryLink(
      reachable ? target : this,
      this.net,
      this.name,
      lane,
      this.role,
      this.role === 'place' ? this.name : null,
    );
    mine.peer = theirs;
    theirs.peer = mine;
    this.links.add(mine);
    pool.set(address, mine);
    if (reachable) target.links.add(theirs);
    else this.net.scheduler.soon(() => mine.fail());
    return mine;
  }

  /** Closes the pooled outgoing links to address, every lane. */
  disconnect(address: string): void {
    this.outgoingData.get(address)?.fail();
    this.outgoingControl.get(address)?.fail();
  }

  /** Each in-memory delivery is a batch of one message. */
  onBatchEnd(handler: () => void): void {
    this.batchEndHandler = handler;
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  onLinkClosed(handler: LinkClosedHandler): void {
    this.closedHandler = handler;
  }

  /** @internal */
  deliver(via: MemoryLink, msg: WireMessage): void {
    if (this.dead) return;
    this.handler(via, msg);
    this.batchEndHandler();
  }

  /** @internal */
  linkClosed(link: MemoryLink, reason: string): void {
    if (!this.links.delete(link)) return;
    const pool = link.lane === 'data' ? this.outgoingData : this.outgoingControl;
    if (pool.get(link.remote) === link) pool.delete(link.remote);
    this.closedHandler(link, reason);
  }

  /** Closes every link and stops listening. */
  async close(): Promise<void> {
    for (const l of [...this.links]) l.fail();
    if (this.address !== null) this.net.unregister(this.address, this);
  }

  /** Closes every link to or from the endpoint named name (a healed cut). */
  closeLinksWith(name: string): void {
    for (const l of [...this.links]) if (l.peer.owner.name === name || l.remote === name) l.fail();
  }

  /** Simulates SIGKILL: the endpoint goes silent and its connections break. */
  crash(): void {
    this.dead = true;
    void this.close();
  }
}
