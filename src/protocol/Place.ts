import { Packr } from 'msgpackr';
import type { WireMessage } from '../transport/Transport.js';
import { FailureDetector } from './FailureDetector.js';
import type { Limits } from './limits.js';
import type {
  ClusterStatus,
  CopyComplete,
  ErrorCode,
  ErrorReply,
  Heartbeat,
  HeartbeatAck,
  JoinRequest,
  OpRequest,
  Outcome,
  ReplicateAcks,
  ReplicateBatch,
  ReplicateEntry,
  ReplicateReject,
  SnapshotChunk,
} from './messages.js';
import { BATCH_ENTRY_FIELDS } from './messages.js';
import { PartitionReplica, type Waiter, type WriteMode } from './PartitionReplica.js';
import {
  bootstrapTable,
  deputyOf,
  formTable,
  leaderOf,
  type Member,
  PartitionTable,
  roleCounts,
  type TableData,
} from './PartitionTable.js';
import type { Processor, ProcessorOutcome } from './processors.js';
import { validateOp } from './requestValidation.js';
import { InlineValue } from './storedValue.js';
import { placesToTell, TableCommitter } from './TableCommitter.js';
import {
  completeCopy,
  completeHandover,
  handingOver,
  markDead,
  newTerm,
  planHandovers,
  planRepair,
} from './tableChanges.js';

/** A wire message: a plain object tagged with its type. */
export type Message = WireMessage;

/** The clock a place reads; the runtime gives the real one, tests a virtual one. */
export interface Clock {
  now(): number;
}

/** Where a place's output goes: the runtime maps it onto links, tests onto an in-memory network. */
export interface PlaceOutput {
  /** Sends to the place listening at address. */
  sendTo(address: string, msg: Message): void;
  /** Answers over the connection a message arrived on (an opaque handle). */
  reply(to: unknown, msg: Message): void;
  /** Drops the connection to a place declared dead, with whatever is queued for it. */
  disconnect(address: string): void;
}

/** Everything a place is configured with. */
export interface PlaceConfig {
  address: string;
  zone: string | null;
  spare: boolean;
  pid: number;
  /** Places to join through, tried in turn; empty bootstraps a new cluster. */
  seeds: string[];
  partitionCount: number;
  /** Active places needed before partitions are assigned (the cluster forms). */
  minPlaces: number;
  limits: Limits;
  processors: Map<string, Processor>;
  /** A place silent for this long is declared dead. */
  failureTimeoutMs: number;
  joinRetryMs: number;
  tableRetryMs: number;
  /** Remembered write results per partition, for exactly-once retries. */
  maxResultsPerPartition: number;
  /** Replication entries a backup buffers while an earlier one is missing. */
  maxOutOfOrder: number;
  /** Messages held while this place fetches a newer table. */
  maxDeferred: number;
  /** Writes of one partition waiting for its backup; beyond it new writes are refused (retry). */
  maxPendingWrites: number;
  /** Bytes of keys and values per piece of a whole-partition copy (each piece is one frame). */
  snapshotPieceBytes: number;
}

/** Sensible defaults for the tuning part of PlaceConfig. */
export const DEFAULT_TUNING = {
  partitionCount: 271,
  minPlaces: 2,
  failureTimeoutMs: 1000,
  joinRetryMs: 500,
  tableRetryMs: 300,
  maxResultsPerPartition: 4096,
  maxOutOfOrder: 65_536,
  maxDeferred: 10_000,
  maxPendingWrites: 65_536,
  snapshotPieceBytes: 1024 * 1024,
} as const;

interface Deferred {
  to: unknown;
  msg: Message;
  since: number;
}

const packr = new Packr({ useRecords: false });
const EMPTY_OUTCOME: Outcome = {};
const SWAPPED: Outcome = { ok: true };
const NOT_SWAPPED: Outcome = { ok: false };

/** True when a is a later table than b: a newer leadership term, or the same term and a newer version. */
function isNewer(a: TableData, b: TableData): boolean {
  return a.term > b.term || (a.term === b.term && a.version > b.version);
}

/**
 * One place: membership (join, leader duties, table commits through the deputy, failure detection,
 * deputy takeover), request handling at primaries (under a lease), replication and whole-partition
 * copies. Free of I/O: fed messages and ticks, it writes to PlaceOutput and reads the injected clock.
 */
export class Place {
  private myId: number | null = null;
  private table: PartitionTable | null = null;
  private readonly replicas: PartitionReplica[] = [];
  private joinAttempt = 0;
  private lastJoinSentAt = Number.NEGATIVE_INFINITY;
  private joinSeeds: string[];
  private joinAsSpare: boolean;
  private deferred: Deferred[] = [];
  private lastTableFetchAt = Number.NEGATIVE_INFINITY;
  private readonly ackDirty = new Set<number>();
  private readonly ackTo: unknown[] = [];
  /** Replication entries of this turn, per backup address, flattened (see ReplicateBatch). */
  private readonly entriesOut = new Map<string, unknown[]>();
  private readonly done: Waiter[] = [];
  /** Sticky: once the store is invalid here, every request fails with this reason. */
  private invalidReason: string | null = null;
  /** This place may answer as a primary until then (local clock). */
  private leaseUntil = Number.NEGATIVE_INFINITY;
  private lastTickAt: number;
  private lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  /** Last sign of life from the leader (for the leader itself: from its deputy). */
  private lastLeaderContact: number;
  private suspectLeaderSince: number | null = null;
  /** Members that answered a table request since the leader went silent, with a table no newer than ours, and when. */
  private readonly peersAgreeing = new Map<number, number>();
  /**
   * Set when this process finds it was paused: its view may be stale, so it neither leads, takes
   * over, declares anyone dead or the store invalid, nor grants leases, until some member has shown
   * it a table (adopted if newer).
   */
  private verifying = false;
  // Leader state: the newest decided table, the one waiting for the deputy's ack, and what to run on commit.
  private readonly detector: FailureDetector;
  private readonly committer: TableCommitter;
  private readonly copyReportedAt: number[] = [];
  /** When entries were last sent again to an address whose connection broke. */
  private readonly lastResendAt = new Map<string, number>();
  /** Per partition: the oldest unacknowledged write, and since when it has been the oldest. */
  private readonly stalls: ({ seq: number; since: number } | undefined)[] = [];

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: PlaceOutput,
  ) {
    this.detector = new FailureDetector(config.failureTimeoutMs);
    const place = this;
    this.committer = new TableCommitter({
      get myId() {
        return place.myId;
      },
      get committed() {
        return place.table!.data;
      },
      now: () => clock.now(),
      sendTo: (address, msg) => out.sendTo(address, msg),
      install: (before, t) => this.install(before, t),
    });
    this.joinSeeds = config.seeds;
    this.joinAsSpare = config.spare;
    this.lastTickAt = clock.now();
    this.lastLeaderContact = clock.now();
  }

  /** This place's id, once it has joined. */
  get id(): number | null {
    return this.myId;
  }

  /** The newest table this place knows. */
  get tableData(): TableData | null {
    return this.table?.data ?? null;
  }

  /** True while this place may answer as a primary: it holds a lease and is not re-checking its view. */
  get hasLease(): boolean {
    return !this.verifying && this.clock.now() < this.leaseUntil;
  }

  /** Why the store is invalid, as this place knows it, or null. */
  get invalid(): string | null {
    return (
      this.invalidReason ??
      (this.table !== null && !this.table.data.valid ? this.table.data.invalidReason : null)
    );
  }

  /** The table to hand to others: marked invalid when this place knows the store is. */
  private tableToShare(): TableData {
    const data = this.table!.data;
    const reason = this.invalid;
    return reason === null || !data.valid ? data : { ...data, valid: false, invalidReason: reason };
  }

  /** Read access to a partition's replica (created when the first table arrives), for tests and status. */
  replica(partition: number): PartitionReplica {
    return this.replicas[partition];
  }

  private get heartbeatMs(): number {
    return Math.max(1, Math.floor(this.config.failureTimeoutMs / 5));
  }

  /** A lease ends well before the leader may declare its holder dead (failure timeout after the last heartbeat). */
  private get leaseMs(): number {
    return Math.floor(this.config.failureTimeoutMs / 2);
  }

  /** Bootstraps a cluster (no seeds) or starts joining one. */
  start(): void {
    if (this.config.seeds.length === 0) {
      const me: Member = {
        id: 0,
        address: this.config.address,
        zone: this.config.zone,
        pid: this.config.pid,
        state: this.config.spare ? 'spare' : 'active',
      };
      this.adoptTable(bootstrapTable(me, this.config.partitionCount, this.config.minPlaces));
    } else {
      this.tick();
    }
  }

  /**
   * The connection to address broke, and what was queued on it may be lost: send the backup there
   * every entry it has not acknowledged again, and restart copies to it that had not caught up.
   */
  connectionLost(address: string): void {
    const member = this.table?.memberAt(address);
    if (member === undefined || member.state === 'dead' || this.myId === null) return;
    // A place that is down fails every new connection at once: resend at most once per retry period.
    const now = this.clock.now();
    if (now - (this.lastResendAt.get(address) ?? Number.NEGATIVE_INFINITY) < this.config.tableRetryMs) return;
    this.lastResendAt.set(address, now);
    const data = this.table!.data;
    for (const rep of this.replicas) {
      if (rep.role !== 'primary') continue;
      const a = data.partitions[rep.id];
      if (rep.copyTarget === member.id && !(rep.copyInSync && rep.ackedSeq >= rep.copySyncSeq)) {
        this.startCopy(rep, member.id);
      } else if (a.backup === member.id || a.target === member.id) {
        this.resendUnacknowledged(rep, address);
      }
    }
  }

  private resendUnacknowledged(rep: PartitionReplica, address: string): void {
    for (const entry of rep.unacknowledged()) this.queueEntry(address, entry);
  }

  /** Queues a replication entry for address; flush() sends each backup's entries of the turn as one batch. */
  private queueEntry(address: string, e: ReplicateEntry): void {
    let batch = this.entriesOut.get(address);
    if (batch === undefined) {
      batch = [];
      this.entriesOut.set(address, batch);
    }
    batch.push(e.p, e.e, e.s, e.k, e.v, e.c ?? null, e.i ?? null, e.lo ?? 0, e.out ?? null);
  }

  /** Drives timers: joins, heartbeats, failure detection, takeover, table pushes, copy reports. */
  tick(): void {
    const now = this.clock.now();
    if (now - this.lastTickAt > this.config.failureTimeoutMs / 2) {
      // This process itself was paused: silence it could not hear is not others' failure.
      this.detector.resetAll(now);
      this.lastLeaderContact = now;
      this.suspectLeaderSince = null;
      this.verifying = this.myId !== null && this.otherLiveMembers().length > 0;
    }
    this.lastTickAt = now;
    if (this.myId === null) {
      if (this.joinSeeds.length > 0 && now - this.lastJoinSentAt >= this.config.joinRetryMs) {
        this.sendJoin(this.joinSeeds[this.joinAttempt++ % this.joinSeeds.length]);
      }
      return;
    }
    this.expireDeferred(now);
    if (this.invalid !== null || this.table === null) return;
    if (this.verifying) {
      if (now - this.lastTableFetchAt >= this.config.tableRetryMs) this.askEveryone();
      return;
    }
    if (now - this.lastHeartbeatAt >= this.heartbeatMs) this.sendHeartbeat(now);
    if (this.isLeader()) this.leaderTick(now);
    else this.watchLeader(now);
    this.reportCopies(now);
  }

  /** Live members other than this place, by the newest table it has. */
  private otherLiveMembers(): Member[] {
    return (this.table?.data.members ?? []).filter((m) => m.state !== 'dead' && m.id !== this.myId);
  }

  /** Asks every other live member for its table (answers arrive as 'table' messages). */
  private askEveryone(): void {
    this.lastTableFetchAt = this.clock.now();
    for (const m of this.otherLiveMembers()) this.out.sendTo(m.address, { t: 'tableGet', tv: this.version });
  }

  /** A member showed its table: adopt it if newer; otherwise it agrees with this place's view. */
  private handleTableReply(msg: Message): void {
    if (!isTableData(msg.table)) return;
    const before = this.table?.data;
    this.adoptTable(msg.table);
    if (typeof msg.id !== 'number' || before === undefined || isNewer(msg.table, before)) return;
    // An answer is a sign of life too (a member following an older leader heartbeats that one).
    if (this.isLeader()) this.detector.heard(msg.id, this.clock.now());
    this.verifying = false;
    if (this.suspectLeaderSince !== null) this.peersAgreeing.set(msg.id, this.clock.now());
  }

  /**
   * Sends what this turn coalesced: each backup's replication entries as one batch, and the
   * acknowledgements per primary connection as one message. The runtime calls it after every
   * received batch of frames and every tick.
   */
  flush(): void {
    const tv = this.version;
    if (this.entriesOut.size > 0) {
      for (const [address, es] of this.entriesOut) {
        const batch: ReplicateBatch = { t: 'replBatch', tv, es };
        this.out.sendTo(address, batch as unknown as Message);
      }
      this.entriesOut.clear();
    }
    if (this.ackDirty.size === 0) return;
    const byLink = new Map<unknown, number[]>();
    for (const p of this.ackDirty) {
      const rep = this.replicas[p];
      const to = this.ackTo[p];
      let as = byLink.get(to);
      if (as === undefined) {
        as = [];
        byLink.set(to, as);
      }
      as.push(p, rep.epoch, rep.seq);
    }
    this.ackDirty.clear();
    for (const [to, as] of byLink) {
      const acks: ReplicateAcks = { t: 'replAcks', tv, id: this.myId!, as };
      this.out.reply(to, acks as unknown as Message);
    }
  }

  /** Handles one message that arrived over the connection `from`. */
  receive(from: unknown, msg: Message): void {
    switch (msg.t) {
      case 'op':
        this.handleOp(from, msg as unknown as OpRequest & Message);
        return;
      case 'repl':
        this.handleReplicate(from, msg as unknown as ReplicateEntry & Message);
        return;
      case 'replBatch':
        this.handleReplicateBatch(from, msg as unknown as ReplicateBatch & Message);
        return;
      case 'replAcks':
        this.handleReplicateAcks(msg as unknown as ReplicateAcks);
        return;
      case 'replReject':
        this.handleReplicateReject(msg as unknown as ReplicateReject);
        return;
      case 'snap':
        this.handleSnapshot(from, msg as unknown as SnapshotChunk & Message);
        return;
      case 'snapAck':
        this.handleSnapshotAck(msg);
        return;
      case 'copied':
        this.handleCopied(msg as unknown as CopyComplete);
        return;
      case 'handedOver':
        this.handleHandedOver(msg);
        return;
      case 'hb':
        this.handleHeartbeat(from, msg as unknown as Heartbeat);
        return;
      case 'hbAck':
        this.handleHeartbeatAck(from, msg as unknown as HeartbeatAck);
        return;
      case 'join':
        this.handleJoin(from, msg as unknown as JoinRequest & Message);
        return;
      case 'table':
        this.handleTableReply(msg);
        return;
      case 'joined':
      case 'tableUpdate':
        if (isTableData(msg.table)) this.adoptTable(msg.table);
        return;
      case 'tablePush':
        this.handleTablePush(from, msg);
        return;
      case 'tableAck':
        this.committer.acknowledged(msg.tv);
        return;
      case 'tableGet':
        if (this.table === null)
          this.replyError(from, msg, 'unavailable', 'this place has not joined a cluster yet');
        else
          this.out.reply(from, { t: 'table', tv: this.version, id: this.myId, table: this.tableToShare() });
        return;
      case 'invalid':
        // A place with an older view (it was paused, say) cannot judge the cluster as it is now.
        if (typeof msg.reason === 'string' && this.table !== null && typeof msg.term === 'number') {
          const mine = this.table.data;
          if (msg.term > mine.term || (msg.term === mine.term && (msg.tv as number) >= mine.version)) {
            this.becomeInvalid(msg.reason);
          }
        }
        return;
      case 'status':
        this.handleStatus(from, msg);
        return;
      case 'err':
        this.handlePeerError(msg as unknown as ErrorReply);
        return;
      default:
        this.replyError(from, msg, 'unknown_command', `unknown message type '${String(msg.t)}'`);
    }
  }

  private get version(): number {
    return this.table?.version ?? 0;
  }

  // ---- client operations at the primary ----

  private handleOp(from: unknown, m: OpRequest & Message): void {
    const problem = validateOp(m, this.config.limits, this.config.processors);
    if (problem !== null) {
      this.replyError(from, m, problem[0], problem[1]);
      return;
    }
    const table = this.table;
    if (table === null) {
      this.replyError(from, m, 'unavailable', 'this place is still joining the cluster');
      return;
    }
    const invalid = this.invalid;
    if (invalid !== null) {
      this.replyError(from, m, 'invalid', `the store is invalid: ${invalid}`);
      return;
    }
    if (!table.data.formed) {
      const active = table.data.members.filter((x) => x.state === 'active').length;
      this.replyError(
        from,
        m,
        'unavailable',
        `the cluster is forming: ${active} of ${table.data.minPlaces} places have joined`,
      );
      return;
    }
    const p = table.partitionOf(m.k);
    const rep = this.replicas[p];
    if (m.tv > table.version) this.learnNewerTable();
    if (rep.role !== 'primary') {
      if (m.tv > table.version) {
        this.defer(from, m, null);
        return;
      }
      const err: ErrorReply = {
        t: 'err',
        id: m.id,
        tv: table.version,
        code: 'redirect',
        msg: `partition ${p} of key is not primary here`,
      };
      const owner = table.primaryAddress(p);
      if (owner !== null) err.to = owner;
      if (m.tv < table.version) err.table = this.tableToShare();
      this.out.reply(from, err as unknown as Message);
      return;
    }
    if (!this.hasLease) {
      // Cut off from the leader, this place may already have been replaced: it must not answer.
      this.replyError(from, m, 'unavailable', `place ${this.myId} holds no lease from the leader right now`);
      return;
    }
    if (rep.handoverTo !== null) {
      // Neither this place nor its backup answers until the backup has taken over.
      this.replyError(from, m, 'unavailable', `partition ${p} is moving to place ${rep.handoverTo}; retry`);
      return;
    }
    if (m.o === 'get') {
      const waiter: Waiter = { to: from, id: m.id, outcome: null, value: rep.data.get(m.k) ?? null };
      if (rep.readNowOrPark(m.k, waiter)) this.answer(waiter);
      return;
    }
    rep.forgetBelow(m.c, m.lo);
    const seen = rep.remembered(m.c, m.id);
    if (seen === undefined && rep.pendingCount >= this.config.maxPendingWrites) {
      // The backup is far behind: bound the memory this partition holds for it.
      this.replyError(
        from,
        m,
        'unavailable',
        `partition ${p} has ${rep.pendingCount} writes waiting for its backup; retry`,
      );
      return;
    }
    if (seen !== undefined) {
      const waiter: Waiter = { to: from, id: m.id, outcome: seen.outcome };
      if (seen.pending !== null && rep.isUnreplicated(seen)) rep.parkRetry(seen.pending, waiter);
      else this.answer(waiter);
      return;
    }
    switch (m.o) {
      case 'put':
        this.write(from, m, rep, m.v ?? null, EMPTY_OUTCOME);
        return;
      case 'del':
        if (rep.data.has(m.k)) this.write(from, m, rep, null, EMPTY_OUTCOME);
        else this.readLike(from, m, rep, EMPTY_OUTCOME);
        return;
      case 'cas':
        if (rep.holds(m.k, m.x ?? null)) this.write(from, m, rep, m.v ?? null, SWAPPED);
        else this.readLike(from, m, rep, NOT_SWAPPED);
        return;
      case 'submit':
        this.submit(from, m, rep);
        return;
    }
  }

  private submit(from: unknown, m: OpRequest, rep: PartitionReplica): void {
    const processor = this.config.processors.get(m.p!)!;
    const current = rep.value(m.k);
    let outcome: ProcessorOutcome;
    let value: Uint8Array | null = null;
    let result: Uint8Array;
    try {
      const arg = m.a === undefined ? undefined : packr.unpack(m.a);
      outcome = processor(current === undefined ? undefined : packr.unpack(current), arg, m.k) ?? {};
      result = packr.pack(outcome.result);
      if (outcome.value !== undefined) value = packr.pack(outcome.value);
    } catch (err) {
      this.replyError(from, m, 'processor_failed', `processor '${m.p}' failed: ${(err as Error).message}`);
      return;
    }
    if (value !== null && value.length > this.config.limits.maxValueBytes) {
      this.replyError(
        from,
        m,
        'too_large',
        `processor '${m.p}' produced a value of ${value.length} bytes; the limit is ${this.config.limits.maxValueBytes}`,
      );
      return;
    }
    const done: Outcome = { r: result };
    if (value !== null) this.write(from, m, rep, value, done);
    else if (outcome.delete === true && current !== undefined) this.write(from, m, rep, null, done);
    else this.readLike(from, m, rep, done);
  }

  private write(
    from: unknown,
    m: OpRequest,
    rep: PartitionReplica,
    value: Uint8Array | null,
    outcome: Outcome,
  ): void {
    const table = this.table!;
    const a = table.data.partitions[rep.id];
    // The backup, else the target of the copy that will become the backup (synchronous once it caught up).
    const to = table.member(a.backup ?? a.target)?.address ?? null;
    const mode: WriteMode = to === null ? 'alone' : a.backup !== null || rep.copyInSync ? 'sync' : 'async';
    const waiter: Waiter = { to: from, id: m.id, outcome };
    const entry = rep.primaryWrite(m.k, value, m.c, m.id, m.lo, outcome, waiter, mode, this.version);
    if (mode !== 'sync') this.answer(waiter);
    if (entry !== null) this.queueEntry(to!, entry);
  }

  /**
   * A request that changes nothing (a failed cas, deleting an absent key, a processor that only
   * reads). Its outcome is remembered like a write's, so a retry of it gets the same answer rather
   * than a new evaluation that might differ from the answer an earlier attempt still delivers.
   */
  private readLike(from: unknown, m: OpRequest, rep: PartitionReplica, outcome: Outcome): void {
    const waiter: Waiter = { to: from, id: m.id, outcome };
    if (rep.decideWithoutWrite(m.k, m.c, m.id, outcome, waiter)) this.answer(waiter);
  }

  private answer(w: Waiter): void {
    const tv = this.version;
    if (w.outcome === null) {
      // The value goes inline: the client decodes it with the reply, in one pass.
      if (w.value === null || w.value === undefined)
        this.out.reply(w.to, { t: 'res', id: w.id, tv, v: null });
      else this.out.reply(w.to, { t: 'res', id: w.id, tv, u: new InlineValue(w.value) });
    } else if (w.outcome.ok !== undefined) {
      this.out.reply(w.to, { t: 'res', id: w.id, tv, ok: w.outcome.ok });
    } else if (w.outcome.r !== undefined) {
      this.out.reply(w.to, { t: 'res', id: w.id, tv, r: w.outcome.r });
    } else {
      this.out.reply(w.to, { t: 'res', id: w.id, tv });
    }
  }

  // ---- replication and copies ----

  private handleReplicate(from: unknown, m: ReplicateEntry & Message): void {
    if (!Number.isInteger(m.p) || m.p < 0 || typeof m.s !== 'number' || typeof m.e !== 'number') {
      this.replyError(from, m, 'bad_request', `malformed replication entry for partition ${String(m.p)}`);
      return;
    }
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'backup') {
      if (m.tv > this.version) {
        this.defer(from, m, from);
        return;
      }
      this.rejectReplication(
        from,
        m.p,
        rep?.epoch ?? 0,
        `place ${this.myId} is not the backup of partition ${m.p}`,
      );
      return;
    }
    if (m.tv > this.version) this.learnNewerTable();
    const verdict = rep.backupApply(m);
    if (verdict === 'stale-epoch') {
      this.rejectReplication(
        from,
        m.p,
        rep.epoch,
        `epoch ${m.e} of partition ${m.p} is older than ${rep.epoch}`,
      );
      return;
    }
    if (verdict === 'overflow' || rep.copying) return;
    this.scheduleAck(m.p, from);
  }

  private handleReplicateBatch(from: unknown, m: ReplicateBatch & Message): void {
    const es = m.es;
    if (!Array.isArray(es) || es.length % BATCH_ENTRY_FIELDS !== 0 || typeof m.tv !== 'number') {
      this.replyError(from, m, 'bad_request', 'malformed replication batch');
      return;
    }
    for (let i = 0; i < es.length; i += BATCH_ENTRY_FIELDS) {
      const entry = {
        t: 'repl',
        tv: m.tv,
        p: es[i],
        e: es[i + 1],
        s: es[i + 2],
        k: es[i + 3],
        v: es[i + 4],
        c: es[i + 5] ?? undefined,
        i: es[i + 6] ?? undefined,
        lo: es[i + 7],
        out: es[i + 8] ?? undefined,
      } as ReplicateEntry & Message;
      this.handleReplicate(from, entry);
    }
  }

  private handleReplicateAcks(m: ReplicateAcks): void {
    const as = m.as;
    if (!Array.isArray(as) || as.length % 3 !== 0 || typeof m.id !== 'number') return;
    for (let i = 0; i < as.length; i += 3) {
      this.handleReplicateAck(as[i], as[i + 1], as[i + 2], m.id);
    }
  }

  /** The backup `from` holds partition p up to seq s in epoch e. */
  private handleReplicateAck(p: number, e: number, s: number, from: number): void {
    const rep = this.replicas[p];
    if (rep === undefined || rep.role !== 'primary' || e !== rep.epoch) return;
    const a = this.table!.data.partitions[p];
    if (from !== (a.backup ?? a.target)) return;
    rep.acknowledge(s, this.done);
    this.answerDone();
    // While a copy runs the partition has no backup, so acks come from the copy's target.
    if (rep.copyTarget !== null && s >= rep.copySeq) {
      if (!rep.copyInSync) {
        // The target holds the snapshot: from now on writes wait for it too.
        rep.copyInSync = true;
        rep.copySyncSeq = rep.seq;
      }
      if (s >= rep.copySyncSeq) this.reportCopy(rep, this.clock.now());
    }
    if (rep.handoverTo !== null) this.reportHandover(rep, this.clock.now());
  }

  private handleReplicateReject(m: ReplicateReject): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'primary' || m.e <= rep.epoch) return;
    // A newer epoch exists: this primary was deposed. Fence it and learn the new table.
    rep.role = 'none';
    rep.abandonPending(this.done);
    this.redirectDone(`partition ${m.p} changed primary`);
    const leader = this.table?.leader;
    if (leader && leader.id !== this.myId) this.fetchTable(leader.address);
  }

  /**
   * Primary: copies the whole partition to the target, one piece at a time (each sent once the previous
   * is acknowledged); updates after the snapshot follow as replication, answered at once until the
   * target has caught up, then only once it has them.
   */
  private startCopy(rep: PartitionReplica, target: number): void {
    if (this.table!.member(target) === undefined) return;
    rep.copyTarget = target;
    rep.copySeq = rep.seq;
    rep.copyInSync = false;
    rep.copySyncSeq = 0;
    rep.copyPieces = rep.snapshotPieces(this.config.snapshotPieceBytes);
    this.copyReportedAt[rep.id] = Number.NEGATIVE_INFINITY;
    this.sendPiece(rep, 0);
  }

  private sendPiece(rep: PartitionReplica, i: number): void {
    const address = this.table!.member(rep.copyTarget)?.address;
    const piece = rep.copyPieces[i];
    if (address === undefined || piece === undefined) return;
    const chunk: SnapshotChunk = {
      t: 'snap',
      tv: this.version,
      p: rep.id,
      e: rep.epoch,
      s: rep.copySeq,
      from: this.myId!,
      i,
      n: rep.copyPieces.length,
      kv: piece.kv,
      rs: piece.rs,
    };
    this.out.sendTo(address, chunk as unknown as Message);
    // Free what was sent; the last piece's ack comes as a replication ack.
    rep.copyPieces[i] = { kv: [], rs: [] };
  }

  private handleSnapshotAck(m: Message): void {
    const rep = this.replicas[m.p as number];
    if (rep === undefined || rep.role !== 'primary' || rep.copyTarget !== m.id || m.e !== rep.epoch) return;
    this.sendPiece(rep, (m.i as number) + 1);
  }

  private handleSnapshot(from: unknown, m: SnapshotChunk & Message): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'backup') {
      if (m.tv > this.version) this.defer(from, m, from);
      return;
    }
    const a = this.table!.data.partitions[m.p];
    if (a.primary !== m.from || a.target !== this.myId || m.e < rep.epoch) return;
    if (!Array.isArray(m.kv) || !Array.isArray(m.rs)) return;
    if (m.i === 0) rep.beginCopy();
    if (!rep.copying) return;
    rep.applySnapshotChunk(m.kv, m.rs);
    if (m.i === m.n - 1) {
      rep.finishSnapshot(m.s, m.e);
      this.scheduleAck(m.p, from);
    } else {
      this.out.reply(from, { t: 'snapAck', tv: this.version, p: m.p, e: m.e, i: m.i, id: this.myId });
    }
  }

  /**
   * Primary: when the oldest unacknowledged write has made no progress for a failure timeout (an
   * entry or its ack was lost with a broken connection), sends the backup every such entry again.
   */
  private resendIfStalled(rep: PartitionReplica, now: number): void {
    const seq = rep.oldestPendingSeq();
    const stall = this.stalls[rep.id];
    if (seq === 0) {
      this.stalls[rep.id] = undefined;
      return;
    }
    if (stall === undefined || stall.seq !== seq) {
      this.stalls[rep.id] = { seq, since: now };
      return;
    }
    if (now - stall.since < this.config.failureTimeoutMs) return;
    stall.since = now;
    const a = this.table!.data.partitions[rep.id];
    const address = this.table!.member(a.backup ?? a.target)?.address;
    if (address !== undefined) this.resendUnacknowledged(rep, address);
  }

  /** Primary: tells the leader a copy is complete and in sync (again, until the table reflects it). */
  private reportCopy(rep: PartitionReplica, now: number): void {
    if (now - (this.copyReportedAt[rep.id] ?? Number.NEGATIVE_INFINITY) < this.config.tableRetryMs) return;
    this.copyReportedAt[rep.id] = now;
    const msg: CopyComplete = { t: 'copied', tv: this.version, p: rep.id, to: rep.copyTarget!, e: rep.epoch };
    const leader = this.table?.leader;
    if (leader === undefined) return;
    if (leader.id === this.myId) this.handleCopied(msg);
    else this.out.sendTo(leader.address, msg as unknown as Message);
  }

  private reportCopies(now: number): void {
    for (const rep of this.replicas) {
      if (rep.role !== 'primary') continue;
      this.resendIfStalled(rep, now);
      if (rep.copyTarget !== null && rep.copyInSync && rep.ackedSeq >= rep.copySyncSeq)
        this.reportCopy(rep, now);
      if (rep.handoverTo !== null) this.reportHandover(rep, now);
    }
  }

  private handleCopied(m: CopyComplete): void {
    if (!this.isLeader() || typeof m.p !== 'number') return;
    this.committer.change((t) => completeCopy(t, m.p, m.to, m.e));
  }

  /** Primary handing over: once its backup has every write it answered, tells the leader (again, until done). */
  private reportHandover(rep: PartitionReplica, now: number): void {
    if (rep.pendingCount > 0) return;
    if (now - (this.copyReportedAt[rep.id] ?? Number.NEGATIVE_INFINITY) < this.config.tableRetryMs) return;
    this.copyReportedAt[rep.id] = now;
    const msg = { t: 'handedOver', tv: this.version, p: rep.id, from: this.myId!, e: rep.epoch };
    const leader = this.table?.leader;
    if (leader === undefined) return;
    if (leader.id === this.myId) this.handleHandedOver(msg);
    else this.out.sendTo(leader.address, msg);
  }

  private handleHandedOver(m: Message): void {
    if (!this.isLeader() || typeof m.p !== 'number' || typeof m.from !== 'number' || typeof m.e !== 'number')
      return;
    this.committer.change((t) => completeHandover(t, m.p as number, m.from as number, m.e as number));
  }

  private answerDone(): void {
    const done = this.done;
    for (let i = 0; i < done.length; i++) this.answer(done[i]);
    done.length = 0;
  }

  private redirectDone(why: string): void {
    this.failDone('redirect', why);
  }

  /** Answers every waiter in `done` with an error. */
  private failDone(code: ErrorCode, why: string): void {
    for (const w of this.done) {
      const err: ErrorReply = { t: 'err', id: w.id, tv: this.version, code, msg: why };
      this.out.reply(w.to, err as unknown as Message);
    }
    this.done.length = 0;
  }

  private rejectReplication(to: unknown, p: number, epoch: number, why: string): void {
    const reject: ReplicateReject = { t: 'replReject', tv: this.version, p, e: epoch, msg: why };
    this.out.reply(to, reject as unknown as Message);
  }

  /** Acknowledges partition p's replication back over `to`, once per turn (see flush). */
  private scheduleAck(p: number, to: unknown): void {
    this.ackTo[p] = to;
    this.ackDirty.add(p);
  }

  // ---- heartbeats, leases and failure detection ----

  private sendHeartbeat(now: number): void {
    const table = this.table!;
    const decided = this.committer.decided;
    const target = this.isLeader() ? deputyOf(decided) : table.leader;
    this.lastHeartbeatAt = now;
    if (target === undefined || target.id === this.myId) {
      // Alone (no deputy to depose it): the leader's lease is its own.
      if (this.isLeader()) this.leaseUntil = now + this.leaseMs;
      return;
    }
    const hb: Heartbeat = { t: 'hb', tv: this.version, term: table.data.term, id: this.myId!, ts: now };
    this.out.sendTo(target.address, hb as unknown as Message);
  }

  private handleHeartbeat(from: unknown, m: Heartbeat): void {
    const table = this.table;
    if (table === null || this.myId === null || typeof m.id !== 'number' || this.verifying) return;
    // Judge by what this place has decided, committed or not: a sender already declared dead gets no lease.
    const decided = this.committer.decided;
    if (decided.members.find((x) => x.id === m.id)?.state === 'dead' && table.member(m.id)?.state !== 'dead')
      return;
    const sender = table.member(m.id);
    if (sender?.state === 'dead' || m.term < table.data.term) {
      // A place declared dead, or one that missed a leader change: it must see the table to act on it.
      this.out.reply(from, { t: 'tableUpdate', tv: this.version, table: table.data });
      if (sender?.state === 'dead') return;
    }
    if (this.isLeader()) this.detector.heard(m.id, this.clock.now());
    if (m.id === table.leader?.id) this.leaderHeard();
    const ack: HeartbeatAck = {
      t: 'hbAck',
      tv: this.version,
      term: table.data.term,
      id: this.myId,
      ts: m.ts,
    };
    this.out.reply(from, ack as unknown as Message);
    if (m.tv > this.version) this.learnNewerTable();
  }

  private handleHeartbeatAck(from: unknown, m: HeartbeatAck): void {
    const table = this.table;
    if (table === null || typeof m.ts !== 'number') return;
    // The leader decides tables; only the deputy's tableAck commits one, never a peer's newer version.
    if (!this.isLeader() && (m.term > table.data.term || m.tv > table.version)) {
      this.out.reply(from, { t: 'tableGet', tv: this.version });
      return;
    }
    if (m.term !== table.data.term && m.term !== this.committer.draft?.term) return;
    const grantor = this.isLeader() ? deputyOf(this.committer.decided)?.id : table.leader?.id;
    if (m.id !== grantor) return;
    this.leaseUntil = Math.max(this.leaseUntil, m.ts + this.leaseMs);
    if (!this.isLeader()) this.leaderHeard();
  }

  private leaderHeard(): void {
    this.lastLeaderContact = this.clock.now();
    this.suspectLeaderSince = null;
    this.peersAgreeing.clear();
  }

  /**
   * Non-leaders watch the leader. The deputy takes over after a failure timeout of silence; the others
   * ask the deputy for news, and if the deputy is silent too, leader and deputy are lost together.
   */
  private watchLeader(now: number): void {
    const table = this.table!;
    const silentMs = now - this.lastLeaderContact;
    if (silentMs <= this.config.failureTimeoutMs) return;
    if (this.suspectLeaderSince === null) {
      this.suspectLeaderSince = now;
      this.peersAgreeing.clear();
    }
    const leader = table.leader!;
    const others = this.otherLiveMembers().filter((m) => m.id !== leader.id);
    // Ask everyone: a member with a newer table shows this place what it missed (maybe its own death).
    if (now - this.lastTableFetchAt >= this.config.tableRetryMs) this.askEveryone();
    const deputy = table.deputy;
    if (deputy?.id === this.myId) {
      // Take over only once another member confirmed this view, unless there is nobody else to ask.
      if (others.length === 0 || this.agreedLately(now) !== null) this.takeOver(leader.id);
      return;
    }
    if (deputy === undefined) return;
    // A deputy that answered lately is alive and will take over; one that answered and then died is not.
    if (this.agreedLately(now, deputy.id) !== null) return;
    // Silence from everyone says more about this place (cut off, its output stalled) than about the
    // store: judge the store lost only once some other member has answered.
    const othersBesideDeputy = others.filter((m) => m.id !== deputy.id).length;
    if (othersBesideDeputy > 0 && this.agreedLately(now) === null) return;
    if (now - this.suspectLeaderSince > this.config.failureTimeoutMs * 2) {
      this.becomeInvalid(`leader ${leader.id} and deputy ${deputy.id} were lost together`);
    }
  }

  /** A member (id, or any) that showed this place's view within the last failure timeout, or null. */
  private agreedLately(now: number, id?: number): number | null {
    for (const [member, at] of this.peersAgreeing) {
      if ((id === undefined || member === id) && now - at <= this.config.failureTimeoutMs) return member;
    }
    return null;
  }

  /** The deputy becomes leader: a new term, the old leader marked dead, repairs planned, a new deputy told. */
  private takeOver(oldLeader: number): void {
    const now = this.clock.now();
    this.detector.resetAll(now);
    this.committer.reset();
    this.leaderHeard();
    this.committer.change((t) => planRepair(markDead(newTerm(t), [oldLeader])));
  }

  private leaderTick(now: number): void {
    const table = this.table!;
    const watched = table.data.members
      .filter((m) => m.state !== 'dead' && m.id !== this.myId)
      .map((m) => m.id);
    this.detector.watch(watched, now);
    const suspects = this.detector.suspects(now);
    if (suspects.length > 1 && suspects.length === watched.length) {
      // Everyone silent at once says more about this place (cut off, its output stalled, deposed
      // meanwhile) than about the others: writing them all off would leave it leading alone, on a lease
      // of its own, beside the cluster that went on. Ask around instead; act once someone answers.
      if (now - this.lastTableFetchAt >= this.config.tableRetryMs) this.askEveryone();
    } else if (suspects.length > 0) this.committer.change((t) => planRepair(markDead(t, suspects)));
    // Once all is repaired, even out the primaries (a spare that took over backups takes primaries too).
    else if (this.committer.idle) this.committer.change(planHandovers);
    this.committer.retry(now, this.config.tableRetryMs);
  }

  /** True when this place leads, by the newest table it has decided on or adopted. */
  private isLeader(): boolean {
    if (this.table === null || this.myId === null) return false;
    return leaderOf(this.committer.decided)?.id === this.myId;
  }

  /** Marks the store invalid here, for good, and tells every place this one knows. */
  private becomeInvalid(reason: string): void {
    if (this.invalidReason !== null) return;
    this.invalidReason = reason;
    for (const rep of this.replicas) {
      if (rep.role !== 'primary') continue;
      rep.abandonPending(this.done);
    }
    this.failDone('invalid', `the store is invalid: ${reason}`);
    for (const m of this.table?.data.members ?? []) {
      if (m.id !== this.myId && m.state !== 'dead') {
        this.out.sendTo(m.address, {
          t: 'invalid',
          tv: this.version,
          term: this.table?.data.term ?? 0,
          reason,
        });
      }
    }
  }

  // ---- membership and the partition table ----

  private sendJoin(address: string): void {
    this.lastJoinSentAt = this.clock.now();
    const join: JoinRequest = {
      t: 'join',
      tv: 0,
      address: this.config.address,
      zone: this.config.zone,
      spare: this.joinAsSpare,
      pid: this.config.pid,
    };
    this.out.sendTo(address, join as unknown as Message);
  }

  private handlePeerError(m: ErrorReply): void {
    if (this.myId === null && m.code === 'redirect' && typeof m.to === 'string') this.sendJoin(m.to);
  }

  private handleJoin(from: unknown, m: JoinRequest & Message): void {
    if (typeof m.address !== 'string' || typeof m.pid !== 'number') {
      this.replyError(from, m, 'bad_request', 'join needs an address and a pid');
      return;
    }
    if (!this.answeredAsLeader(from, m)) return;
    const base = this.committer.decided;
    const existing = new PartitionTable(base).memberAt(m.address);
    if (existing !== undefined && existing.state !== 'dead') {
      if (existing.pid === m.pid) {
        this.committer.whenCommitted(base.version, () =>
          this.out.reply(from, { t: 'joined', tv: this.version, id: existing.id, table: this.table!.data }),
        );
        return;
      }
      // A new process at the address of a live member: the old one is gone.
      this.committer.change((t) => planRepair(markDead(t, [existing.id])));
    }
    const id = Math.max(...base.members.map((x) => x.id)) + 1;
    this.committer.change(
      (t) => {
        const joiner: Member = {
          id,
          address: m.address,
          zone: typeof m.zone === 'string' ? m.zone : null,
          pid: m.pid,
          // Scale-out with live rebalancing comes later: a place joining a formed cluster waits as a spare.
          state: m.spare === true || t.formed ? 'spare' : 'active',
        };
        let next: TableData = { ...t, version: t.version + 1, members: [...t.members, joiner] };
        const active = next.members.filter((x) => x.state === 'active').length;
        if (!next.formed && active >= next.minPlaces) next = formTable(next);
        return planRepair(next);
      },
      () => this.out.reply(from, { t: 'joined', tv: this.version, id, table: this.table!.data }),
    );
  }

  private handleTablePush(from: unknown, msg: Message): void {
    if (!isTableData(msg.table)) return;
    const mine = this.table?.data;
    if (mine !== undefined) {
      const sameTerm = msg.table.term === mine.term;
      const otherLeader = leaderOf(msg.table)?.id !== leaderOf(mine)?.id;
      const stale =
        msg.table.term < mine.term || (sameTerm && (otherLeader || msg.table.version < mine.version));
      if (stale) {
        // A deposed or forked leader: show it the newer table instead of acknowledging.
        this.out.reply(from, { t: 'tableUpdate', tv: this.version, table: mine });
        return;
      }
    }
    this.adoptTable(msg.table);
    this.leaderHeard();
    this.out.reply(from, { t: 'tableAck', tv: msg.table.version, term: msg.table.term });
  }

  /** Committer: makes a table current here, then tells the places that must hear of it. */
  private install(before: TableData, t: TableData): void {
    this.adoptTable(t);
    for (const m of placesToTell(before, t, this.myId)) {
      this.out.sendTo(m.address, { t: 'tableUpdate', tv: t.version, table: t });
    }
    if (!t.valid) this.becomeInvalid(t.invalidReason ?? 'invalid');
  }

  /** Installs a newer table: takes this place's id from it, sets partition roles, replays deferred messages. */
  private adoptTable(data: TableData): void {
    if (this.table !== null && !isNewer(data, this.table.data)) return;
    const previous = this.table?.data;
    const table = new PartitionTable(data);
    this.table = table;
    if (this.myId === null) {
      const me = table.memberAt(this.config.address);
      if (me !== undefined && me.state !== 'dead' && me.pid === this.config.pid) this.myId = me.id;
    }
    const me = this.myId;
    if (me !== null && table.member(me)?.state === 'dead') {
      this.rejoinAsSpare(data);
      return;
    }
    if (
      previous === undefined ||
      previous.term !== data.term ||
      leaderOf(previous)?.id !== leaderOf(data)?.id
    ) {
      this.leaderHeard();
    }
    for (const m of data.members)
      if (m.state === 'dead' && previous?.members.find((x) => x.id === m.id)?.state !== 'dead') {
        this.out.disconnect(m.address);
      }
    // The cluster's partition count wins over a joiner's own configuration.
    while (this.replicas.length < data.partitions.length) {
      this.replicas.push(
        new PartitionReplica(
          this.replicas.length,
          this.config.maxResultsPerPartition,
          this.config.maxOutOfOrder,
        ),
      );
    }
    for (let p = 0; p < data.partitions.length; p++) this.applyRole(this.replicas[p], data.partitions[p], me);
    this.answerDone();
    if (!data.valid) this.becomeInvalid(data.invalidReason ?? 'invalid');
    if (this.deferred.length > 0) {
      const replay = this.deferred;
      this.deferred = [];
      for (const d of replay) this.receive(d.to, d.msg);
    }
  }

  /** Moves one replica to the role the table gives this place: promotion, copy start or end, demotion. */
  private applyRole(rep: PartitionReplica, a: TableData['partitions'][number], me: number | null): void {
    const role =
      me === null
        ? 'none'
        : a.primary === me
          ? 'primary'
          : a.backup === me || a.target === me
            ? 'backup'
            : 'none';
    if (role === 'primary') {
      if (rep.role !== 'primary') rep.promote(a.epoch);
      else if (a.epoch > rep.epoch) rep.epoch = a.epoch;
      if (a.backup === null && a.target === null) rep.completePending(this.done);
      rep.handoverTo = handingOver(a) ? a.target : null;
      if (a.target === null || rep.handoverTo !== null) rep.copyTarget = null;
      else if (rep.copyTarget !== a.target) this.startCopy(rep, a.target);
      return;
    }
    if (rep.role === 'primary') {
      rep.abandonPending(this.done);
      this.redirectDone(`partition ${rep.id} changed primary`);
    }
    if (role === 'backup') {
      if (rep.role !== 'backup' && a.target === me) rep.beginCopy();
      rep.role = 'backup';
      if (a.epoch > rep.epoch) rep.epoch = a.epoch;
      return;
    }
    if (rep.role !== 'none') rep.reset();
  }

  /** This place was declared dead (it was paused or cut off): it forgets everything and joins anew as a spare. */
  private rejoinAsSpare(data: TableData): void {
    for (const rep of this.replicas) {
      if (rep.role === 'primary') rep.abandonPending(this.done);
      rep.reset();
    }
    this.redirectDone('this place was replaced; retry');
    this.myId = null;
    this.table = null;
    this.committer.reset();
    this.leaseUntil = Number.NEGATIVE_INFINITY;
    this.joinAsSpare = true;
    this.joinSeeds = data.members.filter((m) => m.state !== 'dead').map((m) => m.address);
    this.lastJoinSentAt = Number.NEGATIVE_INFINITY;
  }

  /** Holds a message that needs a newer table than this place has, and fetches that table. */
  private defer(to: unknown, msg: Message, fetchVia: unknown): void {
    if (this.deferred.length >= this.config.maxDeferred) {
      this.replyError(to, msg, 'unavailable', 'this place is catching up with the partition table; retry');
      return;
    }
    this.deferred.push({ to, msg, since: this.clock.now() });
    if (fetchVia !== null && this.clock.now() - this.lastTableFetchAt >= this.config.tableRetryMs) {
      this.lastTableFetchAt = this.clock.now();
      this.out.reply(fetchVia, { t: 'tableGet', tv: this.version });
      return;
    }
    this.learnNewerTable();
  }

  private expireDeferred(now: number): void {
    if (this.deferred.length === 0) return;
    const expireBefore = now - this.config.failureTimeoutMs * 2;
    while (this.deferred.length > 0 && this.deferred[0].since < expireBefore) {
      const d = this.deferred.shift()!;
      this.replyError(d.to, d.msg, 'unavailable', 'timed out waiting for a newer partition table');
    }
    if (this.deferred.length > 0) this.learnNewerTable();
  }

  /** Lazy propagation: a sender knows a newer table, so fetch it from the leader (rate-limited). */
  private learnNewerTable(): void {
    if (this.clock.now() - this.lastTableFetchAt < this.config.tableRetryMs) return;
    const leader = this.table?.leader;
    if (leader && leader.id !== this.myId) this.fetchTable(leader.address);
  }

  private fetchTable(address: string): void {
    this.lastTableFetchAt = this.clock.now();
    this.out.sendTo(address, { t: 'tableGet', tv: this.version });
  }

  /** True when this place is the leader; otherwise answers with a redirect to the leader (or why not). */
  private answeredAsLeader(from: unknown, msg: Message): boolean {
    const leader = this.table?.leader;
    if (this.myId === null || leader === undefined) {
      this.replyError(from, msg, 'unavailable', 'this place has not joined a cluster yet');
      return false;
    }
    if (this.isLeader()) return true;
    const err: ErrorReply = {
      t: 'err',
      tv: this.version,
      code: 'redirect',
      msg: 'not the leader',
      to: leader.address,
    };
    if (typeof msg.id === 'number') err.id = msg.id;
    this.out.reply(from, err as unknown as Message);
    return false;
  }

  // ---- status ----

  private handleStatus(from: unknown, msg: Message): void {
    // An invalid place answers for itself: the leader may be the one that is gone.
    if (this.invalid === null && !this.answeredAsLeader(from, msg)) return;
    if (this.table === null) {
      this.replyError(from, msg, 'unavailable', 'this place has not joined a cluster yet');
      return;
    }
    this.out.reply(from, { t: 'statusReply', id: msg.id, tv: this.version, status: this.status() });
  }

  /** The cluster as this place (the leader) sees it, in the shape of `status --json`. */
  status(): ClusterStatus {
    const data = this.table!.data;
    const leader = this.table!.leader ?? null;
    const deputy = this.table!.deputy ?? null;
    const counts = roleCounts(data);
    const invalid = this.invalid;
    return {
      valid: invalid === null,
      invalidReason: invalid,
      tableVersion: data.version,
      leader: leader?.id ?? null,
      deputy: deputy?.id ?? null,
      failureTimeoutMs: this.config.failureTimeoutMs,
      formed: data.formed,
      minPlaces: data.minPlaces,
      places: data.members.map((m) => ({
        id: m.id,
        address: m.address,
        pid: m.pid,
        role:
          m.state === 'dead'
            ? 'member'
            : m.id === leader?.id
              ? 'leader'
              : m.id === deputy?.id
                ? 'deputy'
                : m.state === 'spare'
                  ? 'spare'
                  : 'member',
        zone: m.zone,
        state: m.state,
        primaries: counts.get(m.id)?.primaries ?? 0,
        backups: counts.get(m.id)?.backups ?? 0,
      })),
      partitions: data.formed
        ? data.partitions.map((a, id) => ({
            id,
            primary: a.primary,
            backup: a.backup,
            target: a.target,
            epoch: a.epoch,
            state: a.state,
          }))
        : [],
    };
  }

  private replyError(to: unknown, msg: object, code: ErrorCode, text: string): void {
    const err: ErrorReply = { t: 'err', tv: this.version, code, msg: text };
    const id = (msg as { id?: unknown }).id;
    if (typeof id === 'number') err.id = id;
    this.out.reply(to, err as unknown as Message);
  }
}

function isTableData(x: unknown): x is TableData {
  const t = x as TableData;
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.version === 'number' &&
    typeof t.term === 'number' &&
    Array.isArray(t.members) &&
    Array.isArray(t.partitions)
  );
}
