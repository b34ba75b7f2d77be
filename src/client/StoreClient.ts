import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { storedBytes } from '../protocol/replication/storedValue.js';
import { isNewer, PartitionTable, type TableData } from '../protocol/table/PartitionTable.js';
import { isTableData } from '../protocol/wire/decode.js';
import { InlineValue } from '../protocol/wire/inlineValue.js';
import type { ClusterStatus, ErrorReply, OpCode, OpRequest } from '../protocol/wire/messages.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../transport/FrameCodec.js';
import type { Link, Transport, WireMessage } from '../transport/Transport.js';
import type { Scheduler } from '../util/Scheduler.js';
import { AuthError, PlacestoreError, RequestError, StoreInvalidError, UnavailableError } from './errors.js';

/** How a client finds and talks to a cluster. */
export interface ClientOptions {
  seeds: string[];
  /** Each call fails with UnavailableError when it has no answer within this many milliseconds. */
  timeoutMs: number;
  /** A request unanswered this long is sent again, after refreshing the table (default min(1000, timeoutMs / 3)). */
  attemptTimeoutMs?: number;
  transport: Transport;
  scheduler: Scheduler;
  /**
   * A name for this client (default random). Each StoreClient adds its own incarnation to it, so a
   * client started again under the same name is never answered from an earlier one's outcomes.
   */
  clientId?: string;
  /**
   * Calls in flight at most (default 100,000): past it a call fails at once with a RequestError
   * ('busy'), never sent, rather than queueing without end.
   */
  maxInFlight?: number;
  /** Jitter source of back-off delays (default Math.random; the simulator gives a seeded one). */
  random?: () => number;
}

type Kind = 'op' | 'status';

/** What a call resolves with, taken from its reply (so a call costs one promise, not two). */
type Answer = 'reply' | 'nothing' | 'value' | 'ok' | 'result';

interface Pending {
  kind: Kind;
  msg: OpRequest | { t: 'status'; id: number; tv: number };
  key: string;
  answer: Answer;
  deadline: number;
  resolve: (answer: unknown) => void;
  reject: (err: Error) => void;
  link: Link | null;
  target: string | null;
  sent: boolean;
  attempt: number;
  /** Attempts that went unanswered in time (each next one waits twice as long). */
  timeouts: number;
  attemptDeadline: number;
  lastProblem: string;
  /** The key's partition, once a table told it (operations only). */
  partition?: number;
}

/** Ids of one partition's operations, oldest first; those no longer pending leave from the front. */
interface PartitionOps {
  ids: number[];
  head: number;
}

const packr = new Packr({ useRecords: false });
/** Calls in flight on one client at most, by default. */
const DEFAULT_MAX_IN_FLIGHT = 100_000;
const WRITES = new Set<OpCode>(['put', 'cas', 'del', 'submit']);

/**
 * The client: learns the partition table lazily from any seed, sends each request to its key's
 * primary (many in flight per connection), follows redirects, retries with the same request id
 * (so writes happen once), and gives up with UnavailableError at the caller's deadline.
 */
export class StoreClient {
  readonly clientId: string;
  private table: PartitionTable | null = null;
  private readonly pending = new Map<number, Pending>();
  private waitingForTable: Pending[] = [];
  /** Why the last connection failed, for the error of a client that never got an answer. */
  private lastLinkProblem: string | null = null;
  private tableWaiters: { resolve: () => void; reject: (e: Error) => void; deadline: number }[] = [];
  private tableFetchAt = Number.NEGATIVE_INFINITY;
  /** The place that last left a request unanswered for a whole attempt (asked for tables last). */
  private lastSilent: string | null = null;
  /** What the last place asked for its table said about its quorum: why it holds no lease, or null. */
  private noQuorum: string | null = null;
  private tableFetchIndex = 0;
  private candidateIndex = 0;
  private nextId = 1;
  /**
   * Per partition, the operations sent to it: the lowest still pending is what its places may keep
   * outcomes from (`lo`); below it, nothing is ever sent to that partition again. Per partition, so
   * that one slow request pins no other partition's outcomes.
   */
  private readonly opsByPartition = new Map<number, PartitionOps>();
  private closed = false;
  private readonly stopSweep: () => void;
  private readonly sweepMs: number;
  private readonly attemptTimeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    if (options.seeds.length === 0)
      throw new PlacestoreError('bad_request', 'at least one seed address is needed');
    this.clientId = `${options.clientId ?? randomBytes(8).toString('hex')}.${randomBytes(4).toString('hex')}`;
    this.sweepMs = Math.max(5, Math.min(50, Math.floor(options.timeoutMs / 4)));
    this.attemptTimeoutMs =
      options.attemptTimeoutMs ?? Math.max(10, Math.min(1000, Math.floor(options.timeoutMs / 3)));
    options.transport.onMessage((link, msg) => this.onMessage(link, msg));
    options.transport.onLinkClosed((link, reason) => this.onLinkClosed(link, reason));
    this.stopSweep = options.scheduler.every(this.sweepMs, () => this.sweep());
  }

  /** The table version this client routes by (0 before it has one). */
  get tableVersion(): number {
    return this.table?.version ?? 0;
  }

  /** The newest table this client knows, or null. */
  get tableData(): TableData | null {
    return this.table?.data ?? null;
  }

  /** Routes by this table from now on, even if it is older (tests and tools use it to provoke redirects). */
  routeBy(data: TableData): void {
    this.table = new PartitionTable(data);
  }

  /** Resolves once a partition table has been fetched from some seed. */
  ready(): Promise<void> {
    if (this.table !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.tableWaiters.push({
        resolve,
        reject,
        deadline: this.options.scheduler.now() + this.options.timeoutMs,
      });
      this.fetchTable(true);
    });
  }

  /** Returns the value of key, or undefined when it is absent. */
  get(key: string): Promise<unknown> {
    if (typeof key !== 'string') return badKey();
    return this.request('op', key, this.newOp('get', key), 'value');
  }

  /** Stores value under key once the backup has it. */
  put(key: string, value: unknown): Promise<void> {
    if (typeof key !== 'string') return badKey();
    if (value === undefined)
      return Promise.reject(new RequestError('bad_request', 'put: value is undefined (use delete)'));
    const v = this.encode(value, 'value');
    if (v instanceof Error) return Promise.reject(v);
    const msg = this.newOp('put', key);
    msg.v = v;
    return this.request('op', key, msg, 'nothing') as Promise<void>;
  }

  /** Sets key to next only if its value equals expected (undefined: only if absent); returns whether it did. */
  compareAndSwap(key: string, expected: unknown, next: unknown): Promise<boolean> {
    if (typeof key !== 'string') return badKey();
    const x = expected === undefined ? null : this.encode(expected, 'expected value');
    if (x instanceof Error) return Promise.reject(x);
    const v = next === undefined ? null : this.encode(next, 'new value');
    if (v instanceof Error) return Promise.reject(v);
    const msg = this.newOp('cas', key);
    msg.x = x;
    msg.v = v;
    return this.request('op', key, msg, 'ok') as Promise<boolean>;
  }

  /** Removes key (a no-op when it is absent). */
  delete(key: string): Promise<void> {
    if (typeof key !== 'string') return badKey();
    return this.request('op', key, this.newOp('del', key), 'nothing') as Promise<void>;
  }

  /** Runs the named processor at key's primary and returns its result. */
  submitToKey(key: string, processor: string, arg?: unknown): Promise<unknown> {
    if (typeof key !== 'string') return badKey();
    if (typeof processor !== 'string' || processor.length === 0) {
      return Promise.reject(
        new RequestError('bad_request', 'submitToKey: processor name must be a non-empty string'),
      );
    }
    const a = arg === undefined ? undefined : this.encode(arg, 'processor argument');
    if (a instanceof Error) return Promise.reject(a);
    const msg = this.newOp('submit', key);
    msg.p = processor;
    if (a !== undefined) msg.a = a;
    return this.request('op', key, msg, 'result');
  }

  /** Asks the leader for the cluster's status. */
  async status(): Promise<ClusterStatus> {
    const reply = (await this.request(
      'status',
      '',
      { t: 'status', id: this.nextId++, tv: 0 },
      'reply',
    )) as WireMessage;
    const status = reply.status as ClusterStatus | undefined;
    // What callers read of it must be there: a place that sends less gets no TypeError thrown at them.
    if (
      typeof status !== 'object' ||
      status === null ||
      typeof status.valid !== 'boolean' ||
      !Array.isArray(status.places) ||
      !Array.isArray(status.partitions) ||
      !status.places.every((p) => typeof p === 'object' && p !== null) ||
      !status.partitions.every((p) => typeof p === 'object' && p !== null)
    )
      throw new RequestError('bad_reply', 'the status a place sent is malformed');
    return status;
  }

  /** Fails every call in flight and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopSweep();
    for (const p of this.pending.values()) {
      const unknown = p.sent ? '; it may or may not have taken effect' : '';
      p.reject(new UnavailableError(`the client was closed${unknown}`, p.sent));
    }
    const err = new UnavailableError('the client was closed', false);
    this.pending.clear();
    for (const p of this.waitingForTable) p.reject(err);
    this.waitingForTable = [];
    for (const w of this.tableWaiters) w.reject(err);
    this.tableWaiters = [];
    await this.options.transport.close();
  }

  /** The value's MessagePack bytes, or the error that refuses it (returned, so calls reject rather than throw). */
  private encode(value: unknown, what: string): Uint8Array | Error {
    let bytes: Uint8Array;
    try {
      bytes = packr.pack(value);
    } catch (err) {
      return err as Error;
    }
    if (bytes.length > DEFAULT_MAX_FRAME_BYTES - 4096) {
      return new RequestError(
        'too_large',
        `${what} of ${bytes.length} bytes is larger than a frame may be (${DEFAULT_MAX_FRAME_BYTES - 4096} bytes)`,
      );
    }
    return bytes;
  }

  /** A new request for key; the caller adds the operation's own fields. */
  private newOp(o: OpCode, key: string): OpRequest {
    return { t: 'op', id: this.nextId++, c: this.clientId, tv: 0, o, k: key };
  }

  private request(kind: Kind, key: string, msg: Pending['msg'], answer: Answer): Promise<unknown> {
    if (this.closed) return Promise.reject(new UnavailableError('the client is closed', false));
    const bound = this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (this.pending.size >= bound)
      return Promise.reject(
        new RequestError(
          'busy',
          `${this.pending.size} calls are in flight on this client, the most it allows; not sent`,
        ),
      );
    return new Promise((resolve, reject) => {
      const p: Pending = {
        kind,
        msg,
        key,
        answer,
        deadline: this.options.scheduler.now() + this.options.timeoutMs,
        resolve,
        reject,
        link: null,
        target: null,
        sent: false,
        attempt: 0,
        timeouts: 0,
        attemptDeadline: Number.POSITIVE_INFINITY,
        lastProblem: 'no place answered',
      };
      this.pending.set(msg.id, p);
      this.dispatch(p);
    });
  }

  private dispatch(p: Pending): void {
    if (this.closed || !this.pending.has(p.msg.id)) return;
    const table = this.table;
    if (table === null) {
      this.waitingForTable.push(p);
      this.fetchTable(false);
      return;
    }
    if (!table.data.valid && p.kind === 'op') {
      this.pending.delete(p.msg.id);
      p.reject(new StoreInvalidError(`the store is invalid: ${table.data.invalidReason}`));
      return;
    }
    let target = p.target;
    // With no primary known (the cluster is forming), ask the leader: its answer says why.
    if (p.kind === 'op')
      target = table.primaryAddress(table.partitionOf(p.key)) ?? table.leader?.address ?? null;
    else target ??= table.leader?.address ?? null;
    if (target === null) {
      p.lastProblem = 'the partition has no primary in the current table';
      this.retryLater(p, true);
      return;
    }
    p.msg.tv = table.version;
    const link = this.options.transport.linkTo(target);
    p.link = link;
    p.attemptDeadline = this.options.scheduler.now() + this.attemptWaitMs(p);
    p.target = p.kind === 'op' ? null : target;
    if (p.kind === 'op') {
      const op = p.msg as OpRequest;
      if (WRITES.has(op.o)) {
        // A write sent before may have run: a place that has no session of this client must not run
        // it again (it says the outcome is unknown instead).
        if (p.sent) op.r = 1;
        p.sent = true;
      }
      // Ids below the partition's oldest operation still pending are never retried there: its places
      // may forget their outcomes.
      op.lo = this.oldestPendingIn(p, table.partitionOf(p.key));
    }
    try {
      link.send(p.msg as unknown as WireMessage);
    } catch (err) {
      // Too large for a frame: refused before anything was sent.
      this.pending.delete(p.msg.id);
      p.reject(new RequestError('too_large', (err as Error).message));
    }
  }

  /** The lowest id of an operation on partition that is still pending (p, the one being sent, is). */
  private oldestPendingIn(p: Pending, partition: number): number {
    let ops = this.opsByPartition.get(partition);
    if (ops === undefined) {
      ops = { ids: [], head: 0 };
      this.opsByPartition.set(partition, ops);
    }
    if (p.partition === undefined) {
      p.partition = partition;
      // Mostly sent in the order made: the place is found from the end.
      let i = ops.ids.length;
      while (i > ops.head && ops.ids[i - 1]! > p.msg.id) i--;
      ops.ids.splice(i, 0, p.msg.id);
    }
    while (!this.pending.has(ops.ids[ops.head]!)) ops.head++;
    if (ops.head > 1024 && ops.head * 2 > ops.ids.length) {
      ops.ids = ops.ids.slice(ops.head);
      ops.head = 0;
    }
    return ops.ids[ops.head]!;
  }

  private retryLater(p: Pending, refreshTable: boolean): void {
    p.link = null;
    p.attemptDeadline = Number.POSITIVE_INFINITY;
    p.attempt++;
    if (refreshTable) this.fetchTable(true);
    const delay = Math.min(5 * 2 ** Math.min(p.attempt, 5), 100);
    this.options.scheduler.after(delay, () => this.dispatch(p));
  }

  /**
   * How long an attempt waits for its answer: the attempt timeout twice, then twice as long each time
   * (up to 8x), so that a place that is only slow is not flooded with copies of requests it still holds,
   * while a second try after a failover comes as soon as before.
   */
  private attemptWaitMs(p: Pending): number {
    return this.attemptTimeoutMs * 2 ** Math.max(0, Math.min(p.timeouts - 1, 3));
  }

  /** Retries after a place said it is busy: 10 ms doubling to 1 s, each with jitter, so retries spread. */
  private backOff(p: Pending): void {
    p.link = null;
    p.attemptDeadline = Number.POSITIVE_INFINITY;
    p.attempt++;
    const ceiling = Math.min(10 * 2 ** Math.min(p.attempt, 7), 1000);
    const random = this.options.random ?? Math.random;
    this.options.scheduler.after(ceiling * (0.5 + random() / 2), () => this.dispatch(p));
  }

  private onMessage(link: Link, msg: WireMessage): void {
    switch (msg.t) {
      case 'res':
      case 'statusReply': {
        const p = this.pending.get(msg.id as number);
        if (p === undefined || p.link !== link) return;
        this.pending.delete(p.msg.id);
        let answer: unknown;
        try {
          answer = answerOf(msg, p.answer);
        } catch (err) {
          p.reject(new RequestError('bad_reply', `undecodable reply: ${(err as Error).message}`));
          return;
        }
        p.resolve(answer);
        return;
      }
      case 'table':
        this.adopt(msg.table);
        this.noteNoQuorum(msg.nq);
        return;
      case 'tableSame':
        this.noteNoQuorum(msg.nq);
        return;
      case 'err': {
        // Whatever a place sends, the caller gets a RequestError with text, never a TypeError.
        const code = typeof msg.code === 'string' ? msg.code : 'bad_reply';
        const text = typeof msg.msg === 'string' ? msg.msg : `an error reply without a message (${code})`;
        const to = typeof msg.to === 'string' ? msg.to : undefined;
        if (code === 'unauthenticated' || code === 'unauthorized') {
          this.refused(link, typeof msg.id === 'number' ? msg.id : null, new AuthError(code, text));
          return;
        }
        this.onError(link, { ...(msg as unknown as ErrorReply), code, msg: text, to } as ErrorReply);
        return;
      }
    }
  }

  /** A place asked for its table says whether it holds a lease; requests that fail in time say so. */
  private noteNoQuorum(nq: unknown): void {
    this.noQuorum = typeof nq === 'string' ? nq : null;
  }

  private onError(link: Link, err: ErrorReply): void {
    const p = err.id === undefined ? undefined : this.pending.get(err.id);
    if (p === undefined || p.link !== link) return;
    switch (err.code) {
      case 'redirect':
        p.lastProblem = `redirected: ${err.msg}`;
        if (err.table !== undefined && this.adopt(err.table)) {
          this.dispatch(p);
        } else if (p.kind === 'status' && err.to !== undefined) {
          p.target = err.to;
          this.dispatch(p);
        } else {
          this.retryLater(p, true);
        }
        return;
      case 'unavailable':
        p.lastProblem = err.msg;
        this.retryLater(p, true);
        return;
      case 'busy':
        // Refused before it ran: back off, longer each time and spread out, then try again.
        p.lastProblem = err.msg;
        this.backOff(p);
        return;
      case 'invalid':
        this.pending.delete(p.msg.id);
        p.reject(new StoreInvalidError(err.msg));
        return;
      case 'outcome_unknown':
        // It may have run, once; it will not run again.
        this.pending.delete(p.msg.id);
        p.reject(new UnavailableError(err.msg, true));
        return;
      default:
        this.pending.delete(p.msg.id);
        p.reject(new RequestError(err.code, err.msg));
    }
  }

  /**
   * A place refused this client (who it is, or what it asked): the call it names fails, or, when it
   * names none (the connection itself was refused), every call on that connection and every wait for
   * a table. Every place of a cluster refuses alike, so no other is tried.
   */
  private refused(link: Link, id: number | null, err: AuthError): void {
    for (const p of [...this.pending.values()]) {
      if (
        id !== null
          ? p.msg.id !== id || p.link !== link
          : p.link !== link && !this.waitingForTable.includes(p)
      )
        continue;
      this.pending.delete(p.msg.id);
      p.reject(err);
    }
    if (id !== null) return;
    this.waitingForTable = [];
    for (const w of this.tableWaiters) w.reject(err);
    this.tableWaiters = [];
  }

  private onLinkClosed(link: Link, reason: string): void {
    if (this.closed) return;
    this.lastLinkProblem = `connection to ${link.remote} lost: ${reason}`;
    let lost = false;
    for (const p of this.pending.values()) {
      if (p.link !== link) continue;
      p.lastProblem = `connection to ${link.remote} lost`;
      p.target = p.kind === 'status' ? this.memberAfter(link.remote) : null;
      lost = true;
      this.retryLater(p, true);
    }
    if (lost) this.tableFetchAt = Number.NEGATIVE_INFINITY;
  }

  /** The next live place after address in the table, to ask when address does not answer. */
  private memberAfter(address: string): string | null {
    const live = (this.table?.data.members ?? []).filter((m) => m.state !== 'dead');
    if (live.length === 0) return null;
    const i = live.findIndex((m) => m.address === address);
    return live[(i + 1) % live.length].address;
  }

  /** Takes a table a place sent, if it is well formed and newer; a malformed one is ignored. */
  private adopt(data: unknown): boolean {
    if (!isTableData(data)) return false;
    const current = this.table?.data;
    // Same version marked invalid: a place learned of a catastrophe its table does not show yet.
    const sameButInvalid =
      current !== undefined && data.version === current.version && !data.valid && current.valid;
    // Tables are ordered as places order them: by term, then version.
    if (current !== undefined && !isNewer(data, current) && !sameButInvalid) return false;
    const table = new PartitionTable(data);
    this.table = table;
    if (!data.valid) {
      const err = new StoreInvalidError(`the store is invalid: ${data.invalidReason}`);
      for (const p of this.pending.values()) if (p.kind === 'op') p.reject(err);
      for (const [id, p] of this.pending) if (p.kind === 'op') this.pending.delete(id);
    }
    // Requests waiting on a place that is no longer their key's primary go to the new one now (same
    // id: a write is still done once), rather than sitting out their wait on a place that may be gone.
    for (const p of this.pending.values()) {
      if (p.kind !== 'op' || p.link === null) continue;
      const primary = table.primaryAddress(table.partitionOf(p.key));
      if (primary !== null && primary !== p.link.remote) this.dispatch(p);
    }
    const waiting = this.waitingForTable;
    this.waitingForTable = [];
    for (const p of waiting) this.dispatch(p);
    for (const w of this.tableWaiters) w.resolve();
    this.tableWaiters = [];
    return true;
  }

  /** Asks the next candidate (seeds, then known places) for the table, at most once per sweep period. */
  private fetchTable(force: boolean): void {
    const now = this.options.scheduler.now();
    const interval = force ? this.sweepMs : Math.max(this.sweepMs * 4, 100);
    if (now - this.tableFetchAt < interval) return;
    this.tableFetchAt = now;
    const candidates = [...this.options.seeds];
    for (const m of this.table?.data.members ?? []) {
      if (m.state !== 'dead' && !candidates.includes(m.address)) candidates.push(m.address);
    }
    // A place that just left a request unanswered is asked last: it may be the one that is gone.
    const others = candidates.filter((a) => a !== this.lastSilent);
    const pool = others.length > 0 ? others : candidates;
    // Every other request goes to the leader; the others walk through every candidate in turn.
    const leader = this.table?.leader?.address;
    const askLeader = leader !== undefined && leader !== this.lastSilent && this.tableFetchIndex++ % 2 === 0;
    const address = askLeader ? leader : pool[this.candidateIndex++ % pool.length]!;
    // With the term of the table it has, a place answers "same" rather than the whole table when it is no newer.
    const term = this.table?.data.term;
    this.options.transport
      .linkTo(address)
      .send(
        term === undefined
          ? { t: 'tableGet', tv: this.tableVersion }
          : { t: 'tableGet', tv: this.tableVersion, term },
      );
  }

  private sweep(): void {
    const now = this.options.scheduler.now();
    let unanswered = false;
    for (const p of this.pending.values()) {
      if (p.deadline > now) {
        if (p.timeouts > 0) unanswered = true;
        if (p.attemptDeadline <= now) {
          // No answer from a place that may be paused or gone: ask again, with a fresh table.
          p.lastProblem = `no answer from ${p.link?.remote ?? 'the place'} within ${this.attemptWaitMs(p)} ms`;
          this.lastSilent = p.link?.remote ?? this.lastSilent;
          p.timeouts++;
          if (p.kind === 'status' && p.link !== null) p.target = this.memberAfter(p.link.remote);
          this.retryLater(p, true);
        }
        continue;
      }
      this.pending.delete(p.msg.id);
      const what = p.kind === 'op' ? `${(p.msg as OpRequest).o} of key '${truncate(p.key)}'` : 'status';
      const unknown = p.sent ? '; it may or may not have taken effect' : '; it was not applied';
      const quorum = this.noQuorum === null ? '' : `no quorum: ${this.noQuorum}; `;
      p.reject(
        new UnavailableError(
          `no answer within ${this.options.timeoutMs} ms for ${what} (${quorum}${p.lastProblem})${unknown}`,
          p.sent,
        ),
      );
    }
    // While a request waits on a place that did not answer, keep asking (cheaply: "newer than mine?")
    // so that a failover is seen as soon as any place knows of it.
    if (unanswered) this.fetchTable(false);
    if (this.waitingForTable.length > 0) {
      this.waitingForTable = this.waitingForTable.filter((p) => this.pending.has(p.msg.id));
      if (this.waitingForTable.length > 0) this.fetchTable(false);
    }
    if (this.tableWaiters.length > 0) {
      const expired = this.tableWaiters.filter((w) => w.deadline <= now);
      this.tableWaiters = this.tableWaiters.filter((w) => w.deadline > now);
      for (const w of expired) {
        w.reject(
          new UnavailableError(
            `no place answered within ${this.options.timeoutMs} ms (seeds: ${this.options.seeds.join(',')}${this.lastLinkProblem === null ? '' : `; last problem: ${this.lastLinkProblem}`})`,
            false,
          ),
        );
      }
      if (this.tableWaiters.length > 0) this.fetchTable(false);
    }
  }
}

function truncate(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

function badKey(): Promise<never> {
  return Promise.reject(new RequestError('bad_request', 'key must be a string'));
}

/** The value a call resolves with, from its reply. */
function answerOf(reply: WireMessage, answer: Answer): unknown {
  switch (answer) {
    case 'reply':
      return reply;
    case 'nothing':
      return undefined;
    case 'value':
      // u: the value itself, decoded with the reply (an InlineValue when nothing was encoded, in tests).
      if (reply.u !== undefined) {
        return reply.u instanceof InlineValue ? packr.unpack(storedBytes(reply.u.value)) : reply.u;
      }
      return reply.v === null || reply.v === undefined ? undefined : packr.unpack(reply.v as Uint8Array);
    case 'ok':
      return reply.ok === true;
    case 'result':
      return reply.r === undefined ? undefined : packr.unpack(reply.r as Uint8Array);
  }
}
