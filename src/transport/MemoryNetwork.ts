import { Packr } from 'msgpackr';
import type { Scheduler } from '../runtime/Scheduler.js';
import type { Link, LinkClosedHandler, MessageHandler, Transport, WireMessage } from './Transport.js';

const packr = new Packr({ useRecords: false });

interface Timer {
  at: number;
  seq: number;
  every: number;
  fn: () => void;
  cancelled: boolean;
  /** The endpoint whose process runs it; a paused owner's timers wait. */
  owner: string | null;
}

interface InFlight {
  to: MemoryTransport;
  via: MemoryLink;
  bytes: Buffer;
}

/** A small seeded PRNG (mulberry32), so a seed decides every delivery order. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A whole network in one process with a virtual clock: messages are encoded and decoded as on the
 * wire, delivered one at a time (optionally in a seeded random order), and time only moves when
 * nothing else is left to do.
 */
export class MemoryNetwork {
  private readonly listeners = new Map<string, MemoryTransport>();
  private readonly inFlight: InFlight[] = [];
  private soonQueue: { owner: string | null; fn: () => void }[] = [];
  private readonly paused = new Set<string>();
  private timers: Timer[] = [];
  private timerSeq = 0;
  private time = 0;
  private readonly random: () => number;
  /** Delivers in random order instead of FIFO (per link order is not kept either). */
  reorder = false;
  /** Drops every message whose sender and receiver match; tests set it to cut links. */
  drop: (from: string, to: string, msg: WireMessage) => boolean = () => false;
  delivered = 0;

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  /** The virtual clock and timers of code that is never paused (clients, tests). */
  readonly scheduler: Scheduler = this.schedulerFor(null);

  /** The virtual clock and timers of the process behind endpoint owner: they stop while it is paused. */
  schedulerFor(owner: string | null): Scheduler {
    return {
      now: () => this.time,
      every: (ms, fn) => this.addTimer(ms, ms, fn, owner),
      after: (ms, fn) => this.addTimer(ms, 0, fn, owner),
      soon: (fn) => {
        this.soonQueue.push({ owner, fn });
      },
    };
  }

  /** Simulates SIGSTOP of the process behind an endpoint: it gets no messages and runs no timers. */
  pause(name: string): void {
    this.paused.add(name);
  }

  /** Simulates SIGCONT: held messages are delivered and due timers fire (once each). */
  resume(name: string): void {
    this.paused.delete(name);
  }

  /** Returns a new endpoint named name (its address once it listens). */
  transport(name: string): MemoryTransport {
    return new MemoryTransport(this, name);
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
  unregister(address: string): void {
    this.listeners.delete(address);
  }

  /** @internal */
  listenerAt(address: string): MemoryTransport | undefined {
    return this.listeners.get(address);
  }

  /** @internal */
  enqueue(to: MemoryTransport, via: MemoryLink, msg: WireMessage): void {
    if (this.drop(via.peer.owner.name, to.name, msg)) return;
    this.inFlight.push({ to, via, bytes: packr.pack(msg) });
  }

  private addTimer(ms: number, every: number, fn: () => void, owner: string | null): () => void {
    const timer: Timer = { at: this.time + ms, seq: this.timerSeq++, every, fn, cancelled: false, owner };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Runs one step: a soon-task, else one message, else the next timer. Returns false when idle forever. */
  step(maxTime = Number.POSITIVE_INFINITY): boolean {
    const ti = this.soonQueue.findIndex((t) => t.owner === null || !this.paused.has(t.owner));
    if (ti >= 0) {
      const [task] = this.soonQueue.splice(ti, 1);
      task.fn();
      return true;
    }
    const deliverable =
      this.paused.size === 0
        ? this.inFlight.length
        : this.inFlight.filter((m) => !this.paused.has(m.to.name)).length;
    if (deliverable > 0) {
      let i = this.reorder ? Math.floor(this.random() * this.inFlight.length) : 0;
      while (this.paused.has(this.inFlight[i].to.name)) i = (i + 1) % this.inFlight.length;
      const [m] = this.inFlight.splice(i, 1);
      this.delivered++;
      if (!m.via.closed) m.to.deliver(m.via, packr.unpack(m.bytes) as WireMessage);
      return true;
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    let next: Timer | undefined;
    for (const t of this.timers) {
      if (t.owner !== null && this.paused.has(t.owner)) continue;
      if (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
    }
    if (next === undefined || next.at > maxTime) return false;
    this.time = Math.max(this.time, next.at);
    // A timer that was held by a pause fires once, then keeps its period from now.
    if (next.every > 0) {
      next.at += next.every;
      if (next.at <= this.time) next.at = this.time + next.every;
    } else next.cancelled = true;
    next.fn();
    return true;
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
    await this.runUntil(() => this.time >= until && this.inFlight.length === 0, ms + 1);
  }
}

/** One direction of an in-memory connection; its peer is the other end. */
export class MemoryLink implements Link {
  peer!: MemoryLink;
  closed = false;

  constructor(
    readonly owner: MemoryTransport,
    private readonly net: MemoryNetwork,
    readonly remote: string,
  ) {}

  /** Queues msg for delivery at the other end. */
  send(msg: WireMessage): void {
    if (this.closed) return;
    this.net.enqueue(this.peer.owner, this.peer, msg);
  }

  /** Closes both ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.close();
    this.owner.linkClosed(this, 'closed');
  }
}

/** An endpoint of a MemoryNetwork, implementing the same Transport interface as TCP. */
export class MemoryTransport implements Transport {
  private handler: MessageHandler = () => {};
  private closedHandler: LinkClosedHandler = () => {};
  private readonly outgoing = new Map<string, MemoryLink>();
  private readonly links = new Set<MemoryLink>();
  private address: string | null = null;
  /** Set by crash(): the endpoint neither sends nor receives. */
  dead = false;

  constructor(
    private readonly net: MemoryNetwork,
    readonly name: string,
  ) {}

  /** Registers this endpoint under address. */
  async listen(address: string): Promise<void> {
    this.net.register(address, this);
    this.address = address;
  }

  /** Returns the pooled link to address; a link to nobody closes at once. */
  linkTo(address: string): Link {
    const existing = this.outgoing.get(address);
    if (existing !== undefined && !existing.closed) return existing;
    const mine = new MemoryLink(this, this.net, address);
    const target = this.net.listenerAt(address);
    if (target === undefined || target.dead || this.dead) {
      const theirs = new MemoryLink(this, this.net, this.name);
      mine.peer = theirs;
      theirs.peer = mine;
      this.links.add(mine);
      this.outgoing.set(address, mine);
      this.net.scheduler.soon(() => mine.close());
      return mine;
    }
    const theirs = new MemoryLink(target, this.net, this.name);
    mine.peer = theirs;
    theirs.peer = mine;
    this.links.add(mine);
    target.links.add(theirs);
    this.outgoing.set(address, mine);
    return mine;
  }

  /** Closes the pooled outgoing link to address, if there is one. */
  disconnect(address: string): void {
    this.outgoing.get(address)?.close();
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  onLinkClosed(handler: LinkClosedHandler): void {
    this.closedHandler = handler;
  }

  /** @internal */
  deliver(via: MemoryLink, msg: WireMessage): void {
    if (!this.dead) this.handler(via, msg);
  }

  /** @internal */
  linkClosed(link: MemoryLink, reason: string): void {
    if (!this.links.delete(link)) return;
    if (this.outgoing.get(link.remote) === link) this.outgoing.delete(link.remote);
    this.closedHandler(link, reason);
  }

  /** Closes every link and stops listening. */
  async close(): Promise<void> {
    for (const l of [...this.links]) l.close();
    if (this.address !== null) this.net.unregister(this.address);
  }

  /** Simulates SIGKILL: the endpoint goes silent and its connections break. */
  crash(): void {
    this.dead = true;
    void this.close();
  }
}
