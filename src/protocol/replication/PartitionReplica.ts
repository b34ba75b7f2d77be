import { type Defects, NO_DEFECTS } from '../defects.js';
import { invariant } from '../invariant.js';
import type { ReplyTo } from '../Outbox.js';
import type { Outcome, ReplicateEntry } from '../wire/messages.js';
import { type Stored, stored, storedBytes } from './storedValue.js';

/** Whoever is waiting for a write to be replicated: the place turns it into a reply. */
export interface Waiter {
  /** The connection to answer over. */
  to: ReplyTo;
  id: number;
  outcome: Outcome | null;
  /** get: the value to return (stored form). */
  value?: Stored | null;
}

/** A write applied at the primary that its backup has not acknowledged yet. */
export interface PendingWrite {
  seq: number;
  waiters: Waiter[];
  /** What was sent to the backup, kept to send again if the connection to it is lost. */
  entry: ReplicateEntry;
}

/** A remembered write result, so a retried request gets its first answer instead of running twice. */
export interface RememberedResult {
  outcome: Outcome;
  /** The write to wait for while it is not replicated; null when it was complete at once. */
  pending: PendingWrite | null;
}

/** What a partition remembers of one client: outcomes by request id, and ids it will never retry (below lo). */
interface Session {
  /** The client never sends a request below it again (its `lo`). */
  lo: number;
  results: Map<number, RememberedResult>;
  /** The highest request id whose outcome was dropped to bound memory (0: none). */
  forgotten: number;
}

export type ReplicaRole = 'primary' | 'backup' | 'none';

/**
 * How a primary's write is made durable: 'sync' waits for the backup's ack; 'async' is answered at once
 * but still streamed (to a copy's target, while it catches up); 'alone' has no other copy to send to.
 */
export type WriteMode = 'sync' | 'async' | 'alone';

/**
 * One piece of a whole-partition snapshot: keys and values, then (the last piece) remembered results
 * (client, id, outcome) and each session's bounds (client, lo, forgotten), flattened.
 */
export interface SnapshotPiece {
  kv: (string | Uint8Array)[];
  rs: (string | number | Outcome)[];
  sw: (string | number)[];
  /** Whole sessions were dropped from this partition (see PartitionReplica.sessionsDropped). */
  sd: boolean;
}

/** Reads a partition's snapshot one piece at a time (see PartitionReplica.snapshot). */
export class SnapshotCursor {
  private done = false;

  constructor(
    private readonly entries: IterableIterator<[string, Stored]>,
    private readonly results: () => (string | number | Outcome)[],
    private readonly bounds: () => (string | number)[],
    private readonly dropped: () => boolean,
  ) {}

  /** True once the last piece was read. */
  get finished(): boolean {
    return this.done;
  }

  /** The next piece: keys and values up to about maxBytes; the last one also carries the outcomes. */
  next(maxBytes: number): SnapshotPiece & { last: boolean; bytes: number } {
    const kv: (string | Uint8Array)[] = [];
    let bytes = 0;
    while (bytes < maxBytes) {
      const e = this.entries.next();
      if (e.done === true) {
        this.done = true;
        return { kv, rs: this.results(), sw: this.bounds(), sd: this.dropped(), last: true, bytes };
      }
      const [k, v] = e.value;
      kv.push(k, storedBytes(v));
      bytes += k.length * 3 + v.length + 16;
    }
    return { kv, rs: [], sw: [], sd: false, last: false, bytes };
  }
}

/** One attempt of a whole-partition copy, as its target knows it: the primary, its epoch, the attempt. */
export interface CopyAttempt {
  from: number;
  epoch: number;
  g: number;
}

/** What the backup did with a replicated entry. */
export type BackupVerdict = 'applied' | 'buffered' | 'duplicate' | 'stale-epoch' | 'overflow';

/**
 * One partition's data on one place, with the ordering rules of both roles: the primary numbers
 * updates and holds their replies until the backup has them; the backup applies them strictly in
 * sequence order and refuses entries from an older epoch.
 */
export class PartitionReplica {
  private currentRole: ReplicaRole = 'none';
  private currentEpoch = 0;
  /** Target of a copy: true until the whole snapshot has arrived; replication is buffered meanwhile. */
  private copying = false;
  /** Target of a copy: the attempt whose pieces it takes (null until the first piece). */
  private attempt: CopyAttempt | null = null;
  /** Key -> the value's MessagePack bytes, stored (see storedValue.ts). */
  readonly data = new Map<string, Stored>();
  /** Primary: last sequence number assigned. Backup: last sequence number applied in order. */
  seq = 0;
  /** Primary: highest sequence number the backup acknowledged. */
  ackedSeq = 0;
  /**
   * Per client, the outcomes of its recent requests by id, for exactly-once retries; clients in
   * least-recently-used order. A client says which ids it will never retry (below its `lo`), so a
   * session holds about its requests in flight; maxResults bounds them all.
   */
  private readonly sessions = new Map<string, Session>();
  private lastClient: string | null = null;
  private resultCount = 0;
  /**
   * Whole sessions were dropped here to bound memory (or on the copy's source): a retry from a
   * client with no session may then have run before, and is not run again.
   */
  private sessionsDropped = false;
  private readonly pending: PendingWrite[] = [];
  private pendingHead = 0;
  private readonly pendingByKey = new Map<string, PendingWrite>();
  private readonly outOfOrder = new Map<number, ReplicateEntry>();
  /** Backup: entries held until the ones before them arrive. */
  get bufferedCount(): number {
    return this.outOfOrder.size;
  }

  /** Bytes of keys and values of the entries held out of order (about). */
  private bufferedBytesTotal = 0;
  /** Bytes of keys and values of the writes waiting for the backup (about). */
  private pendingBytesTotal = 0;

  constructor(
    readonly id: number,
    private readonly maxResults: number,
    private readonly maxOutOfOrder: number,
    private readonly defects: Defects = NO_DEFECTS,
    private readonly maxOutOfOrderBytes = Number.POSITIVE_INFINITY,
  ) {
    this.takesStaleEpochs = defects.has('stale-epoch');
  }

  /** The defect switch of backupApply (defects.ts), read once. */
  private readonly takesStaleEpochs: boolean;

  /** What this place is for the partition. */
  get role(): ReplicaRole {
    return this.currentRole;
  }

  /** The newest epoch this replica has seen: it takes nothing from an older one. */
  get epoch(): number {
    return this.currentEpoch;
  }

  /** Target of a copy: true until the whole snapshot has arrived. */
  get receivingSnapshot(): boolean {
    return this.copying;
  }

  /** Moves to a newer epoch (the table says so); epochs never go back. */
  raiseEpoch(epoch: number): void {
    invariant(
      epoch >= this.currentEpoch,
      () => `partition ${this.id} epoch would go back from ${this.currentEpoch} to ${epoch}`,
    );
    this.currentEpoch = epoch;
  }

  /** Becomes the backup (or a copy's target, which drops its data and waits for a snapshot). */
  becomeBackup(epoch: number, copyTarget: boolean): void {
    if (this.currentRole !== 'backup' && copyTarget) this.beginCopy();
    this.currentRole = 'backup';
    if (epoch > this.currentEpoch) this.raiseEpoch(epoch);
  }

  /** Primary told of a newer epoch: it was deposed, stops acting at once and gives up its waiters. */
  fence(done: Waiter[]): void {
    this.currentRole = 'none';
    this.abandonPending(done);
  }

  /** Number of writes waiting for the backup. */
  get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  /**
   * True when a write that is not remembered must not run: its outcome may exist but is no longer
   * kept. Below the client's lo (it promised never to send those again: a stale copy), at or below an
   * id whose outcome was dropped, or a retry (`retry`) from a client with no session here (dropped,
   * or never here: this place cannot tell). Only a first attempt from an unknown client runs.
   */
  outcomeUnknown(client: string, id: number, retry: boolean): boolean {
    const s = this.sessions.get(client);
    // With no session dropped here ever, an unknown client's retry never ran here (nor on a copy's source).
    if (s === undefined) return retry && this.sessionsDropped;
    if (s.results.has(id)) return false;
    return id < s.lo || id <= s.forgotten;
  }

  /** Returns the remembered outcome of a request, or undefined when it was never seen. */
  remembered(client: string, id: number): RememberedResult | undefined {
    return this.sessions.get(client)?.results.get(id);
  }

  /** How many request outcomes this partition remembers, across all clients. */
  get rememberedCount(): number {
    return this.resultCount;
  }

  /** Forgets the outcomes of client's requests below lo: the client will never retry those. */
  forgetBelow(client: string, lo: number | undefined): void {
    if (lo === undefined) return;
    const session = this.sessions.get(client);
    if (session === undefined || lo <= session.lo) return;
    session.lo = lo;
    if (session.results.size === 0) return;
    // Ids arrive mostly in order: stop at the first one still needed (a straggler goes on a later pass).
    for (const id of session.results.keys()) {
      if (id >= lo) break;
      session.results.delete(id);
      this.resultCount--;
    }
  }

  /** The value of key as MessagePack bytes, or undefined. */
  value(key: string): Uint8Array | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : storedBytes(v);
  }

  /** True when key holds exactly these bytes (null: when key is absent). */
  holds(key: string, expected: Uint8Array | null): boolean {
    const v = this.data.get(key);
    if (expected === null) return v === undefined;
    return v !== undefined && v.length === expected.byteLength && v === stored(expected);
  }

  /** Primary: true while a remembered write is not yet acknowledged by the backup. */
  isUnreplicated(result: RememberedResult): boolean {
    return result.pending !== null && result.pending.seq > this.ackedSeq;
  }

  /**
   * Primary: answers a read-like request now, or parks it behind the key's unreplicated write so no
   * reader sees a value the backup does not have yet. Returns true when the waiter can be answered now.
   */
  readNowOrPark(key: string, waiter: Waiter): boolean {
    const pending = this.pendingByKey.get(key);
    if (pending === undefined) return true;
    pending.waiters.push(waiter);
    return false;
  }

  /**
   * Primary: remembers the outcome of a request that writes nothing, tied to the key's unreplicated
   * write when there is one (its answer waits for that write). Returns true when it can be answered now.
   */
  decideWithoutWrite(key: string, client: string, id: number, outcome: Outcome, waiter: Waiter): boolean {
    const pending = this.pendingByKey.get(key);
    this.remember(client, id, { outcome, pending: pending ?? null });
    if (pending === undefined) return true;
    pending.waiters.push(waiter);
    return false;
  }

  /**
   * Primary: applies a write locally, numbers it, remembers its outcome, and returns the entry to send
   * to the backup (null when there is no backup: the write is complete at once).
   */
  primaryWrite(
    key: string,
    value: Uint8Array | null,
    client: string,
    id: number,
    lo: number | undefined,
    outcome: Outcome,
    waiter: Waiter,
    mode: WriteMode,
    tv: number,
  ): ReplicateEntry | null {
    invariant(this.currentRole === 'primary', () => `partition ${this.id} written as ${this.currentRole}`);
    this.seq++;
    this.apply(key, value);
    if (mode === 'alone') {
      invariant(this.pendingCount === 0, () => `partition ${this.id} written alone with writes pending`);
      this.ackedSeq = this.seq;
      this.remember(client, id, { outcome, pending: null });
      return null;
    }
    const entry: ReplicateEntry = {
      t: 'repl',
      tv,
      p: this.id,
      e: this.currentEpoch,
      s: this.seq,
      k: key,
      v: value,
      c: client,
      i: id,
      lo: lo ?? 0,
      out: outcome,
    };
    if (mode === 'sync') {
      const write: PendingWrite = { seq: this.seq, waiters: [waiter], entry };
      this.pending.push(write);
      this.pendingBytesTotal += entryBytes(entry);
      // Re-insert so the map stays ordered by sequence number; acknowledge() relies on it.
      this.pendingByKey.delete(key);
      this.pendingByKey.set(key, write);
      this.remember(client, id, { outcome, pending: write });
    } else {
      this.remember(client, id, { outcome, pending: null });
    }
    return entry;
  }

  /** Primary: the sequence number of the oldest write its backup has not acknowledged (0 when none). */
  oldestPendingSeq(): number {
    return this.pendingHead < this.pending.length ? this.pending[this.pendingHead]!.seq : 0;
  }

  /** Primary: the entries the backup has not acknowledged yet, in sequence order. */
  unacknowledged(): ReplicateEntry[] {
    const out: ReplicateEntry[] = [];
    for (let i = this.pendingHead; i < this.pending.length; i++) out.push(this.pending[i]!.entry);
    return out;
  }

  /** Primary: parks a retried request behind its own still-unreplicated write. */
  parkRetry(pending: PendingWrite, waiter: Waiter): void {
    pending.waiters.push(waiter);
  }

  /** Primary: records the backup's cumulative ack and returns the waiters now complete, in order. */
  acknowledge(seq: number, done: Waiter[]): void {
    if (seq <= this.ackedSeq) return;
    invariant(seq <= this.seq, () => `partition ${this.id} acknowledged up to ${seq}, past ${this.seq}`);
    this.ackedSeq = seq;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.seq <= this.ackedSeq) {
      const write = this.pending[this.pendingHead++]!;
      this.pendingBytesTotal -= entryBytes(write.entry);
      for (const w of write.waiters) done.push(w);
      write.waiters.length = 0;
    }
    // Let acknowledged writes (and their values) go at once: held on, they filled the old generation.
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
      this.pendingBytesTotal = 0;
    } else if (this.pendingHead >= 32 && this.pendingHead * 2 >= this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    for (const [key, write] of this.pendingByKey) {
      if (write.seq > this.ackedSeq) break;
      this.pendingByKey.delete(key);
    }
  }

  /** Removes every unreplicated write's waiters (the replica lost its primary role), returning them. */
  abandonPending(done: Waiter[]): void {
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      for (const w of this.pending[i]!.waiters) done.push(w);
    }
    this.pending.length = 0;
    this.pendingHead = 0;
    this.pendingBytesTotal = 0;
    this.pendingByKey.clear();
  }

  /** Bytes of keys and values of the writes waiting for the backup (about). */
  get pendingBytes(): number {
    return this.pendingBytesTotal;
  }

  /** Backup: applies an entry in sequence order, buffering ones that arrive early. */
  backupApply(entry: ReplicateEntry): BackupVerdict {
    // The defect: entries from an older epoch are taken as if current.
    const e = this.takesStaleEpochs ? Math.max(entry.e, this.currentEpoch) : entry.e;
    if (e < this.currentEpoch) return 'stale-epoch';
    if (e > this.currentEpoch) this.raiseEpoch(e);
    if (entry.s <= this.seq && !this.copying) return 'duplicate';
    if (entry.s > this.seq + 1 || this.copying) {
      // Bounded in count and bytes; an entry over the bound is sent again later (a resend).
      const bytes = entryBytes(entry);
      if (
        this.outOfOrder.size >= this.maxOutOfOrder ||
        this.bufferedBytesTotal + bytes > this.maxOutOfOrderBytes
      )
        return 'overflow';
      const replaced = this.outOfOrder.get(entry.s);
      if (replaced !== undefined) this.bufferedBytesTotal -= entryBytes(replaced);
      this.outOfOrder.set(entry.s, entry);
      this.bufferedBytesTotal += bytes;
      return 'buffered';
    }
    this.applyEntry(entry);
    this.drainInOrder();
    return 'applied';
  }

  private clearBuffered(): void {
    this.outOfOrder.clear();
    this.bufferedBytesTotal = 0;
  }

  private drainInOrder(): void {
    for (
      let next = this.outOfOrder.get(this.seq + 1);
      next !== undefined;
      next = this.outOfOrder.get(this.seq + 1)
    ) {
      this.outOfOrder.delete(next.s);
      this.bufferedBytesTotal -= entryBytes(next);
      this.applyEntry(next);
    }
  }

  /** Primary, after a promotion: everything applied is now the truth; entries past a gap were never acknowledged. */
  promote(epoch: number): void {
    this.currentRole = 'primary';
    this.raiseEpoch(epoch);
    this.clearBuffered();
    this.copying = false;
    this.ackedSeq = this.seq;
  }

  /** Primary left without any backup: completes every pending write (the partition is degraded). */
  completePending(done: Waiter[]): void {
    this.acknowledge(this.seq, done);
  }

  /** Target of a copy: true when a first piece of this attempt may start the copy (again). */
  acceptsFirstPiece(a: CopyAttempt): boolean {
    const cur = this.attempt;
    // An older attempt of the same primary and epoch is over: its pieces come late.
    return cur === null || cur.from !== a.from || cur.epoch !== a.epoch || a.g >= cur.g;
  }

  /** Target of a copy: true when a later piece belongs to the attempt being received. */
  receivesPieceOf(a: CopyAttempt): boolean {
    const cur = this.attempt;
    return this.copying && cur !== null && cur.from === a.from && cur.epoch === a.epoch && cur.g === a.g;
  }

  /** Target of a copy: drops what it held and waits for a snapshot (replication already buffered stays). */
  beginCopy(attempt: CopyAttempt | null = null): void {
    this.attempt = attempt;
    this.data.clear();
    this.clearSessions();
    this.seq = 0;
    this.copying = true;
  }

  /**
   * Primary: a snapshot of this partition, read one piece at a time as the copy goes. It walks the
   * live data (a Map iterator survives writes: keys added later are visited, deleted ones skipped),
   * so it is fuzzy: a piece may hold values newer than the sequence number the copy started at. The
   * target applies every write after that number once the snapshot is whole, in order, each a whole
   * value or a deletion, so it ends up with exactly the primary's data however fuzzy the pieces were.
   */
  snapshot(): SnapshotCursor {
    return new SnapshotCursor(
      this.data.entries(),
      () => this.rememberedResults(),
      () => this.sessionBounds(),
      () => this.sessionsDropped,
    );
  }

  /** Every remembered outcome, flattened as in a snapshot's last piece: client, request id, outcome. */
  private rememberedResults(): (string | number | Outcome)[] {
    const rs: (string | number | Outcome)[] = [];
    for (const [client, session] of this.sessions) {
      for (const [id, r] of session.results) rs.push(client, id, r.outcome);
    }
    return rs;
  }

  /** Each session's bounds, flattened as in a snapshot's last piece: client, lo, forgotten. */
  private sessionBounds(): (string | number)[] {
    const sw: (string | number)[] = [];
    for (const [client, s] of this.sessions)
      if (s.lo > 0 || s.forgotten > 0) sw.push(client, s.lo, s.forgotten);
    return sw;
  }

  /** Target of a copy: applies one snapshot chunk. */
  applySnapshotChunk(
    kv: readonly (string | Uint8Array)[],
    rs: readonly (string | number | Outcome)[],
    sw: readonly (string | number)[] = [],
    sessionsDropped = false,
  ): void {
    if (sessionsDropped) this.sessionsDropped = true;
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const key = kv[i];
      const value = kv[i + 1];
      if (typeof key === 'string' && value instanceof Uint8Array) this.data.set(key, stored(value));
    }
    for (let i = 0; i + 2 < rs.length; i += 3) {
      const client = rs[i];
      const id = rs[i + 1];
      const outcome = rs[i + 2];
      if (typeof client === 'string' && typeof id === 'number' && typeof outcome === 'object')
        this.remember(client, id, { outcome, pending: null });
    }
    for (let i = 0; i + 2 < sw.length; i += 3) {
      const [client, lo, forgotten] = [sw[i], sw[i + 1], sw[i + 2]];
      if (typeof client !== 'string' || typeof lo !== 'number' || typeof forgotten !== 'number') continue;
      const s = this.session(client);
      s.lo = Math.max(s.lo, lo);
      s.forgotten = Math.max(s.forgotten, forgotten);
    }
  }

  /** Target of a copy: the snapshot is whole at seq; replication buffered since then is applied in order. */
  finishSnapshot(snapshotSeq: number, epoch: number): void {
    let seq = snapshotSeq;
    if (this.defects.has('copy-skips-updates')) {
      // The defect: updates that arrived during the copy are dropped; the target claims the newest one.
      seq = Math.max(seq, ...this.outOfOrder.keys());
      this.clearBuffered();
    }
    this.copying = false;
    this.seq = seq;
    if (epoch > this.currentEpoch) this.raiseEpoch(epoch);
    for (const [s, e] of this.outOfOrder)
      if (s <= seq) {
        this.outOfOrder.delete(s);
        this.bufferedBytesTotal -= entryBytes(e);
      }
    this.drainInOrder();
  }

  /** Forgets everything: the place lost every role for this partition. */
  reset(): void {
    this.currentRole = 'none';
    this.currentEpoch = 0;
    this.data.clear();
    this.clearSessions();
    this.clearBuffered();
    this.pending.length = 0;
    this.pendingHead = 0;
    this.pendingByKey.clear();
    this.seq = 0;
    this.ackedSeq = 0;
    this.copying = false;
  }

  private applyEntry(entry: ReplicateEntry): void {
    invariant(
      entry.s === this.seq + 1,
      () => `partition ${this.id} applied entry ${entry.s} after ${this.seq}`,
    );
    this.seq = entry.s;
    this.apply(entry.k, entry.v);
    if (entry.c !== undefined && entry.i !== undefined && entry.out !== undefined) {
      this.forgetBelow(entry.c, entry.lo);
      this.remember(entry.c, entry.i, { outcome: entry.out, pending: null });
    }
  }

  private apply(key: string, value: Uint8Array | null): void {
    if (value === null) this.data.delete(key);
    else this.data.set(key, stored(value));
  }

  private session(client: string): Session {
    let session = this.sessions.get(client);
    if (session === undefined) {
      session = { lo: 0, results: new Map(), forgotten: 0 };
      this.sessions.set(client, session);
    }
    return session;
  }

  private remember(client: string, id: number, result: RememberedResult): void {
    let session = this.sessions.get(client);
    if (session === undefined) {
      session = this.session(client);
    } else if (client !== this.lastClient) {
      // Move to the most recently used end.
      this.sessions.delete(client);
      this.sessions.set(client, session);
    }
    this.lastClient = client;
    if (!session.results.has(id)) this.resultCount++;
    session.results.set(id, result);
    // Past a bound (outcomes, or sessions of clients long gone): forget the least recently used client's oldest.
    for (
      let n = 0;
      (this.resultCount > this.maxResults || this.sessions.size > this.maxResults) && n < 16;
      n++
    ) {
      const first = this.sessions.entries().next();
      if (first.done === true) break;
      const [oldClient, old] = first.value;
      const oldest = old.results.keys().next();
      if (!oldest.done) {
        // Dropped, not forgotten: a retry of it (or of anything before it) is told its outcome is unknown.
        old.results.delete(oldest.value);
        old.forgotten = Math.max(old.forgotten, oldest.value);
        this.resultCount--;
      }
      if (old.results.size === 0) {
        this.sessions.delete(oldClient);
        this.sessionsDropped = true;
        if (this.lastClient === oldClient) this.lastClient = null;
      }
    }
  }

  private clearSessions(): void {
    this.sessionsDropped = false;
    this.sessions.clear();
    this.lastClient = null;
    this.resultCount = 0;
  }
}

/** About how many bytes an entry holds: its key and value, and a little for the rest. */
function entryBytes(e: ReplicateEntry): number {
  return e.k.length * 3 + (e.v?.length ?? 0) + 64;
}
