import { Packr } from 'msgpackr';
import type { Limits } from './limits.js';
import type {
  ClusterStatus,
  ErrorCode,
  ErrorReply,
  JoinRequest,
  OpRequest,
  Outcome,
  ReplicateAck,
  ReplicateEntry,
  ReplicateReject,
} from './messages.js';
import { PartitionReplica, type Waiter } from './PartitionReplica.js';
import {
  bootstrapTable,
  deputyOf,
  formTable,
  type Member,
  PartitionTable,
  roleCounts,
  type TableData,
} from './PartitionTable.js';
import type { Processor, ProcessorOutcome } from './processors.js';

/** A wire message: a plain object tagged with its type. */
export type Message = { t: string } & Record<string, unknown>;

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
  failureTimeoutMs: number;
  joinRetryMs: number;
  tableRetryMs: number;
  /** Remembered write results per partition, for exactly-once retries. */
  maxResultsPerPartition: number;
  /** Replication entries a backup buffers while an earlier one is missing. */
  maxOutOfOrder: number;
  /** Messages held while this place fetches a newer table. */
  maxDeferred: number;
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
} as const;

interface PendingChange {
  table: TableData;
  deputyAddress: string;
  sentAt: number;
  after: () => void;
}

interface Deferred {
  to: unknown;
  msg: Message;
  since: number;
}

const packr = new Packr({ useRecords: false });
const OP_CODES = new Set(['get', 'put', 'cas', 'del', 'submit']);
const EMPTY_OUTCOME: Outcome = {};
const SWAPPED: Outcome = { ok: true };
const NOT_SWAPPED: Outcome = { ok: false };

/**
 * One place: membership (join, leader duties, table commits through the deputy), request handling at
 * primaries, and replication at backups. Free of I/O: fed messages and ticks, it writes to PlaceOutput.
 */
export class Place {
  private myId: number | null = null;
  private table: PartitionTable | null = null;
  private readonly replicas: PartitionReplica[] = [];
  private pendingChange: PendingChange | null = null;
  private readonly queuedJoins: { to: unknown; msg: JoinRequest }[] = [];
  private joinAttempt = 0;
  private lastJoinSentAt = Number.NEGATIVE_INFINITY;
  private deferred: Deferred[] = [];
  private lastTableFetchAt = Number.NEGATIVE_INFINITY;
  private readonly ackDirty = new Set<number>();
  private readonly ackTo: unknown[] = [];
  private readonly done: Waiter[] = [];

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: PlaceOutput,
  ) {}

  /** This place's id, once it has joined. */
  get id(): number | null {
    return this.myId;
  }

  /** The newest table this place knows. */
  get tableData(): TableData | null {
    return this.table?.data ?? null;
  }

  /** Read access to a partition's replica (created when the first table arrives), for tests and status. */
  replica(partition: number): PartitionReplica {
    return this.replicas[partition];
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

  /** Drives timers: join retries, table push retries, table fetches for deferred messages. */
  tick(): void {
    const now = this.clock.now();
    if (
      this.myId === null &&
      this.config.seeds.length > 0 &&
      now - this.lastJoinSentAt >= this.config.joinRetryMs
    ) {
      this.sendJoin(this.config.seeds[this.joinAttempt++ % this.config.seeds.length]);
    }
    const change = this.pendingChange;
    if (change !== null && now - change.sentAt >= this.config.tableRetryMs) {
      change.sentAt = now;
      this.out.sendTo(change.deputyAddress, { t: 'tablePush', tv: this.version, table: change.table });
    }
    if (this.deferred.length > 0) {
      const expireBefore = now - this.config.failureTimeoutMs * 2;
      while (this.deferred.length > 0 && this.deferred[0].since < expireBefore) {
        const d = this.deferred.shift()!;
        this.replyError(d.to, d.msg, 'unavailable', 'timed out waiting for a newer partition table');
      }
      if (this.deferred.length > 0) this.learnNewerTable();
    }
  }

  /** Sends the acknowledgements coalesced since the last flush; the runtime calls it once per turn. */
  flush(): void {
    if (this.ackDirty.size === 0) return;
    const tv = this.version;
    for (const p of this.ackDirty) {
      const rep = this.replicas[p];
      const ack: ReplicateAck = { t: 'replAck', tv, p, e: rep.epoch, s: rep.seq };
      this.out.reply(this.ackTo[p], ack as unknown as Message);
    }
    this.ackDirty.clear();
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
      case 'replAck':
        this.handleReplicateAck(msg as unknown as ReplicateAck);
        return;
      case 'replReject':
        this.handleReplicateReject(msg as unknown as ReplicateReject);
        return;
      case 'join':
        this.handleJoin(from, msg as unknown as JoinRequest & Message);
        return;
      case 'joined':
      case 'tableUpdate':
      case 'table':
        if (isTableData(msg.table)) this.adoptTable(msg.table);
        return;
      case 'tablePush':
        if (isTableData(msg.table)) {
          this.adoptTable(msg.table);
          this.out.reply(from, { t: 'tableAck', tv: msg.table.version });
        }
        return;
      case 'tableAck':
        if (this.pendingChange !== null && msg.tv === this.pendingChange.table.version) this.commitPending();
        return;
      case 'tableGet':
        if (this.table === null)
          this.replyError(from, msg, 'unavailable', 'this place has not joined a cluster yet');
        else this.out.reply(from, { t: 'table', tv: this.version, table: this.table.data });
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
    const problem = this.validateOp(m);
    if (problem !== null) {
      this.replyError(from, m, problem[0], problem[1]);
      return;
    }
    const table = this.table;
    if (table === null) {
      this.replyError(from, m, 'unavailable', 'this place is still joining the cluster');
      return;
    }
    if (!table.data.valid) {
      this.replyError(from, m, 'invalid', `the store is invalid: ${table.data.invalidReason}`);
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
      if (m.tv < table.version) err.table = table.data;
      this.out.reply(from, err as unknown as Message);
      return;
    }
    if (m.o === 'get') {
      const waiter: Waiter = { to: from, id: m.id, outcome: null, value: rep.data.get(m.k) ?? null };
      if (rep.readNowOrPark(m.k, waiter)) this.answer(waiter);
      return;
    }
    const dedupe = m.c + ':' + m.id;
    const seen = rep.remembered(dedupe);
    if (seen !== undefined) {
      const waiter: Waiter = { to: from, id: m.id, outcome: seen.outcome };
      if (seen.pending !== null && rep.isUnreplicated(seen)) rep.parkRetry(seen.pending, waiter);
      else this.answer(waiter);
      return;
    }
    switch (m.o) {
      case 'put':
        this.write(from, m, rep, m.v ?? null, dedupe, EMPTY_OUTCOME);
        return;
      case 'del':
        if (rep.data.has(m.k)) this.write(from, m, rep, null, dedupe, EMPTY_OUTCOME);
        else this.readLike(from, m, rep, EMPTY_OUTCOME);
        return;
      case 'cas': {
        const current = rep.data.get(m.k);
        const expected = m.x ?? null;
        const matches =
          expected === null ? current === undefined : current !== undefined && bytesEqual(current, expected);
        if (matches) this.write(from, m, rep, m.v ?? null, dedupe, SWAPPED);
        else this.readLike(from, m, rep, NOT_SWAPPED);
        return;
      }
      case 'submit':
        this.submit(from, m, rep, dedupe);
        return;
    }
  }

  private submit(from: unknown, m: OpRequest, rep: PartitionReplica, dedupe: string): void {
    const processor = this.config.processors.get(m.p!)!;
    const current = rep.data.get(m.k);
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
    if (value !== null) this.write(from, m, rep, value, dedupe, done);
    else if (outcome.delete === true && current !== undefined) this.write(from, m, rep, null, dedupe, done);
    else this.readLike(from, m, rep, done);
  }

  private write(
    from: unknown,
    m: OpRequest,
    rep: PartitionReplica,
    value: Uint8Array | null,
    dedupe: string,
    outcome: Outcome,
  ): void {
    const table = this.table!;
    const backup = table.member(table.data.partitions[rep.id].backup);
    const waiter: Waiter = { to: from, id: m.id, outcome };
    const entry = rep.primaryWrite(m.k, value, dedupe, outcome, waiter, backup !== undefined, table.version);
    if (entry === null) this.answer(waiter);
    else this.out.sendTo(backup!.address, entry as unknown as Message);
  }

  private readLike(from: unknown, m: OpRequest, rep: PartitionReplica, outcome: Outcome): void {
    const waiter: Waiter = { to: from, id: m.id, outcome };
    if (rep.readNowOrPark(m.k, waiter)) this.answer(waiter);
  }

  private answer(w: Waiter): void {
    const tv = this.version;
    if (w.outcome === null) {
      this.out.reply(w.to, { t: 'res', id: w.id, tv, v: w.value ?? null });
    } else if (w.outcome.ok !== undefined) {
      this.out.reply(w.to, { t: 'res', id: w.id, tv, ok: w.outcome.ok });
    } else if (w.outcome.r !== undefined) {
      this.out.reply(w.to, { t: 'res', id: w.id, tv, r: w.outcome.r });
    } else {
      this.out.reply(w.to, { t: 'res', id: w.id, tv });
    }
  }

  private validateOp(m: OpRequest & Message): [ErrorCode, string] | null {
    if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id))
      return ['bad_request', "request 'id' must be an integer"];
    if (typeof m.c !== 'string') return ['bad_request', "request 'c' (client id) must be a string"];
    if (typeof m.tv !== 'number') return ['bad_request', "request 'tv' (table version) must be a number"];
    if (!OP_CODES.has(m.o)) return ['unknown_command', `unknown operation '${String(m.o)}'`];
    if (typeof m.k !== 'string') return ['bad_request', 'key must be a string'];
    const { maxKeyBytes, maxValueBytes } = this.config.limits;
    if (m.k.length > maxKeyBytes || Buffer.byteLength(m.k) > maxKeyBytes) {
      return [
        'too_large',
        `key of ${Buffer.byteLength(m.k)} bytes exceeds the limit of ${maxKeyBytes} bytes`,
      ];
    }
    if (m.o === 'put' && !(m.v instanceof Uint8Array))
      return ['bad_request', 'put needs a value (v) as bytes'];
    if (m.o === 'cas') {
      if (m.v !== null && !(m.v instanceof Uint8Array))
        return ['bad_request', 'cas needs a new value (v) as bytes or null'];
      if (m.x !== null && !(m.x instanceof Uint8Array)) {
        return ['bad_request', 'cas needs an expected value (x) as bytes or null'];
      }
    }
    if (m.v instanceof Uint8Array && m.v.length > maxValueBytes) {
      return ['too_large', `value of ${m.v.length} bytes exceeds the limit of ${maxValueBytes} bytes`];
    }
    if (m.x instanceof Uint8Array && m.x.length > maxValueBytes) {
      return [
        'too_large',
        `expected value of ${m.x.length} bytes exceeds the limit of ${maxValueBytes} bytes`,
      ];
    }
    if (m.o === 'submit') {
      if (typeof m.p !== 'string') return ['bad_request', 'submit needs a processor name (p)'];
      if (!this.config.processors.has(m.p)) {
        return [
          'unknown_processor',
          `unknown processor '${m.p}' (known: ${[...this.config.processors.keys()].join(', ')})`,
        ];
      }
      if (m.a !== undefined && !(m.a instanceof Uint8Array))
        return ['bad_request', 'processor argument (a) must be bytes'];
      if (m.a !== undefined && m.a.length > maxValueBytes) {
        return [
          'too_large',
          `processor argument of ${m.a.length} bytes exceeds the limit of ${maxValueBytes} bytes`,
        ];
      }
    }
    return null;
  }

  // ---- replication ----

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
      const reject: ReplicateReject = {
        t: 'replReject',
        tv: this.version,
        p: m.p,
        e: rep?.epoch ?? 0,
        msg: `place ${this.myId} is not the backup of partition ${m.p}`,
      };
      this.out.reply(from, reject as unknown as Message);
      return;
    }
    if (m.tv > this.version) this.learnNewerTable();
    const verdict = rep.backupApply(m);
    if (verdict === 'stale-epoch') {
      const reject: ReplicateReject = {
        t: 'replReject',
        tv: this.version,
        p: m.p,
        e: rep.epoch,
        msg: `epoch ${m.e} of partition ${m.p} is older than ${rep.epoch}`,
      };
      this.out.reply(from, reject as unknown as Message);
      return;
    }
    if (verdict === 'overflow') return;
    this.ackTo[m.p] = from;
    this.ackDirty.add(m.p);
  }

  private handleReplicateAck(m: ReplicateAck): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'primary' || m.e !== rep.epoch) return;
    rep.acknowledge(m.s, this.done);
    this.answerDone();
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

  private answerDone(): void {
    const done = this.done;
    for (let i = 0; i < done.length; i++) this.answer(done[i]);
    done.length = 0;
  }

  private redirectDone(why: string): void {
    for (const w of this.done) {
      const err: ErrorReply = { t: 'err', id: w.id, tv: this.version, code: 'redirect', msg: why };
      this.out.reply(w.to, err as unknown as Message);
    }
    this.done.length = 0;
  }

  // ---- membership and the partition table ----

  private sendJoin(address: string): void {
    this.lastJoinSentAt = this.clock.now();
    const join: JoinRequest = {
      t: 'join',
      tv: 0,
      address: this.config.address,
      zone: this.config.zone,
      spare: this.config.spare,
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
    const table = this.table!;
    if (this.pendingChange !== null) {
      if (this.queuedJoins.length < this.config.maxDeferred) this.queuedJoins.push({ to: from, msg: m });
      return;
    }
    const existing = table.memberAt(m.address);
    if (existing !== undefined && existing.state !== 'dead') {
      this.out.reply(from, { t: 'joined', tv: this.version, id: existing.id, table: table.data });
      return;
    }
    const id = table.data.members[table.data.members.length - 1].id + 1;
    const joiner: Member = {
      id,
      address: m.address,
      zone: typeof m.zone === 'string' ? m.zone : null,
      pid: m.pid,
      // Scale-out with live rebalancing comes later: a place that joins a formed cluster waits as a spare.
      state: m.spare === true || table.data.formed ? 'spare' : 'active',
    };
    let next: TableData = {
      ...table.data,
      version: table.version + 1,
      members: [...table.data.members, joiner],
    };
    const active = next.members.filter((x) => x.state === 'active').length;
    if (!next.formed && active >= next.minPlaces) next = formTable(next);
    this.propose(next, () => {
      this.out.reply(from, { t: 'joined', tv: this.version, id, table: this.table!.data });
    });
  }

  /** Leader: makes a table current once the deputy holds it (at once when there is no deputy). */
  private propose(next: TableData, after: () => void): void {
    const deputy = deputyOf(next);
    this.pendingChange = {
      table: next,
      deputyAddress: deputy?.address ?? '',
      sentAt: this.clock.now(),
      after,
    };
    if (deputy === undefined || deputy.id === this.myId) {
      this.commitPending();
      return;
    }
    this.out.sendTo(deputy.address, { t: 'tablePush', tv: this.version, table: next });
  }

  private commitPending(): void {
    const change = this.pendingChange!;
    this.pendingChange = null;
    const before = this.table!.data;
    this.adoptTable(change.table);
    change.after();
    this.notifyRoleChanges(before, change.table, deputyOf(change.table)?.id ?? null);
    const queued = this.queuedJoins.splice(0, this.queuedJoins.length);
    for (const q of queued) this.handleJoin(q.to, q.msg as JoinRequest & Message);
  }

  /** Tells every place whose roles changed (the deputy already knows); the rest learn lazily. */
  private notifyRoleChanges(before: TableData, after: TableData, deputyId: number | null): void {
    const changed = new Set<number>();
    for (let p = 0; p < after.partitions.length; p++) {
      const a = before.partitions[p];
      const b = after.partitions[p];
      if (a.primary !== b.primary || a.epoch !== b.epoch) {
        if (a.primary !== null) changed.add(a.primary);
        if (b.primary !== null) changed.add(b.primary);
      }
      if (a.backup !== b.backup || a.epoch !== b.epoch) {
        if (a.backup !== null) changed.add(a.backup);
        if (b.backup !== null) changed.add(b.backup);
      }
    }
    for (const m of after.members) {
      if (m.id === this.myId || m.id === deputyId || m.state === 'dead' || !changed.has(m.id)) continue;
      this.out.sendTo(m.address, { t: 'tableUpdate', tv: after.version, table: after });
    }
  }

  /** Installs a newer table: takes this place's id from it, sets partition roles, replays deferred messages. */
  private adoptTable(data: TableData): void {
    if (this.table !== null && data.version <= this.table.version) return;
    const table = new PartitionTable(data);
    this.table = table;
    if (this.myId === null) this.myId = table.memberAt(this.config.address)?.id ?? null;
    const me = this.myId;
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
    for (let p = 0; p < data.partitions.length; p++) {
      const a = data.partitions[p];
      const rep = this.replicas[p];
      const role = me === null ? 'none' : a.primary === me ? 'primary' : a.backup === me ? 'backup' : 'none';
      if (rep.role === 'primary' && role !== 'primary') {
        rep.abandonPending(this.done);
        this.redirectDone(`partition ${p} changed primary`);
      }
      rep.role = role;
      if (a.epoch > rep.epoch) rep.epoch = a.epoch;
    }
    if (this.deferred.length > 0) {
      const replay = this.deferred;
      this.deferred = [];
      for (const d of replay) this.receive(d.to, d.msg);
    }
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
    if (leader.id === this.myId) return true;
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
    if (!this.answeredAsLeader(from, msg)) return;
    this.out.reply(from, { t: 'statusReply', id: msg.id, tv: this.version, status: this.status() });
  }

  /** The cluster as this place (the leader) sees it, in the shape of `status --json`. */
  status(): ClusterStatus {
    const data = this.table!.data;
    const leader = this.table!.leader ?? null;
    const deputy = this.table!.deputy ?? null;
    const counts = roleCounts(data);
    return {
      valid: data.valid,
      invalidReason: data.invalidReason,
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
          m.id === leader?.id
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

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(a, b) === 0;
}

function isTableData(x: unknown): x is TableData {
  const t = x as TableData;
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.version === 'number' &&
    Array.isArray(t.members) &&
    Array.isArray(t.partitions)
  );
}
