import type { PartitionCopies } from '../copy/PartitionCopies.js';
import { invariant } from '../invariant.js';
import type { Membership } from '../membership/Membership.js';
import type { Outbox, ReplyTo } from '../Outbox.js';
import type { Clock, PlaceConfig } from '../PlaceConfig.js';
import type { PartitionAssignment, PartitionTable } from '../table/PartitionTable.js';
import type {
  ErrorCode,
  OpRequest,
  Outcome,
  ReplicateAcks,
  ReplicateBatch,
  ReplicateEntry,
  ReplicateReject,
  SnapshotChunk,
} from '../wire/messages.js';
import { entryAt, entryCount, pushEntry } from '../wire/replicationBatch.js';
import { answer } from './answer.js';
import { PartitionReplica, type Waiter } from './PartitionReplica.js';

/** Bytes of keys and values per replication frame, about. */
const MAX_BATCH_BYTES = 1024 * 1024;
/** A stalled write is sent again after this many failure timeouts; a quarter later, the peer is reported. */
const RESEND_AFTER_FT = 0.75;

/**
 * Replication of every partition this place holds: the primary's write path (numbered entries,
 * batched per backup per turn, answered once the backup acknowledges), resends after a broken
 * connection or a stall, the backup's in-order apply and its batched acknowledgements, fencing by
 * epoch, and the copy target's side of a whole-partition copy.
 */

export class Replication {
  private readonly replicas: PartitionReplica[] = [];
  /** Waiters whose writes completed (or failed) during this step, answered together. */
  private readonly done: Waiter[] = [];
  /** Client requests parked here, unanswered until a write is replicated (admission control counts them). */
  private parkedCount = 0;
  /** Replication entries of this turn, per backup address, flattened (see ReplicateBatch), in batches of at most MAX_BATCH_BYTES. */
  private readonly entriesOut = new Map<string, { batches: unknown[][]; bytes: number }>();
  private readonly ackDirty = new Set<number>();
  private readonly ackTo: ReplyTo[] = [];
  /** When entries were last sent again to an address whose connection broke. */
  private readonly lastResendAt = new Map<string, number>();
  /** Addresses whose connection broke again within the retry period: resent once it is over. */
  private readonly resendLater = new Set<string>();
  /**
   * Per partition (as primary): the oldest unacknowledged write, the partner it waits for (backup or
   * copy target), since when it waits, and the last resend. A stall is against one partner, in one
   * role: it ends when either changes.
   */
  private readonly stalls: (
    | { seq: number; peer: number | null; since: number; first: number }
    | undefined
  )[] = [];
  /** The defect switch of this site (defects.ts), read once. */
  private readonly ackBeforeReplication: boolean;

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: Outbox,
    private readonly membership: Membership,
    private readonly copies: PartitionCopies,
  ) {
    this.ackBeforeReplication = config.defects?.has('ack-before-replication') === true;
  }

  /** A partition's replica here (created when the first table arrives). */
  replica(p: number): PartitionReplica | undefined {
    return this.replicas[p];
  }

  /** Takes on the roles a newly adopted table gives this place, then answers what completed. */
  applyRoles(table: PartitionTable, me: number | null): void {
    const partitions = table.data.partitions;
    // The cluster's partition count wins over a joiner's own configuration.
    while (this.replicas.length < partitions.length) {
      this.replicas.push(
        new PartitionReplica(
          this.replicas.length,
          this.config.maxResultsPerPartition,
          this.config.maxOutOfOrder,
          this.config.defects,
          this.config.maxOutOfOrderBytes,
        ),
      );
    }
    for (const [p, a] of partitions.entries()) this.applyRole(this.replicas[p]!, a, me);
    this.copies.startQueued();
    this.answerDone();
  }

  /** Moves one replica to the role the table gives this place: promotion, copy start or end, demotion. */
  private applyRole(rep: PartitionReplica, a: PartitionAssignment, me: number | null): void {
    invariant(
      a.primary === null || (a.primary !== a.backup && a.primary !== a.target),
      () => `partition ${rep.id} has place ${a.primary} as primary and as backup or copy target`,
    );
    const role =
      me === null
        ? 'none'
        : a.primary === me
          ? 'primary'
          : a.backup === me || a.target === me
            ? 'backup'
            : 'none';
    // A stall measured in another role (this place may have been demoted, declared dead and taken
    // back under a new id meanwhile) says nothing about the writes of this one.
    if (role !== rep.role) this.stalls[rep.id] = undefined;
    if (role === 'primary') {
      if (rep.role !== 'primary') {
        rep.promote(a.epoch);
        this.copies.clear(rep.id);
      } else if (a.epoch > rep.epoch) rep.raiseEpoch(a.epoch);
      this.copies.follow(rep, a);
      // No other copy to wait for (none, or a copy not started yet): what waited is as durable as it gets.
      if (this.copies.partnerMode(rep, a) === 'none') rep.completePending(this.done);
      return;
    }
    if (rep.role === 'primary') {
      this.failAbandoned(rep, 'redirect', `partition ${rep.id} changed primary`);
    }
    this.copies.clear(rep.id);
    if (role === 'backup') rep.becomeBackup(a.epoch, a.target === me);
    else if (rep.role !== 'none') rep.reset();
  }

  /** This place was declared dead: every replica forgets everything; waiting clients retry elsewhere. */
  dropAll(): void {
    for (const rep of this.replicas) {
      if (rep.role === 'primary') this.failAbandoned(rep, 'redirect', 'this place was replaced; retry');
      rep.reset();
      this.copies.clear(rep.id);
    }
    this.answerDone();
  }

  /** The store is invalid: every write waiting for its backup fails with the reason. */
  failPending(code: ErrorCode, why: string): void {
    for (const rep of this.replicas) if (rep.role === 'primary') this.failAbandoned(rep, code, why);
    this.answerDone();
  }

  /** Primary: applies a write, numbers it, and answers it once it is as durable as the partition allows. */
  write(
    from: ReplyTo,
    m: OpRequest,
    rep: PartitionReplica,
    value: Uint8Array | null,
    outcome: Outcome,
  ): void {
    const table = this.membership.table!;
    const a = table.data.partitions[rep.id]!;
    // The backup, else the target of the copy that will become the backup (synchronous once it caught up).
    const partner = this.copies.partnerMode(rep, a);
    const to = partner === 'none' ? null : (table.member(a.backup ?? a.target)?.address ?? null);
    // The defect: every write is answered at once, as if there were no backup, and never replicated.
    const mode = to === null || partner === 'none' || this.ackBeforeReplication ? 'alone' : partner;
    const waiter: Waiter = { to: from, id: m.id, outcome };
    const entry = rep.primaryWrite(
      m.k,
      value,
      m.c,
      m.id,
      m.lo,
      outcome,
      waiter,
      mode,
      this.membership.version,
    );
    if (mode !== 'sync') answer(this.out, waiter, this.membership.version);
    else this.parked();
    if (entry !== null && to !== null) this.queueEntry(to, entry);
  }

  /**
   * The connection to address broke, and what was queued on it may be lost: send the backup there
   * every entry it has not acknowledged again, and restart copies to it that had not caught up.
   */
  connectionLost(address: string): void {
    const table = this.membership.table;
    const member = table?.memberAt(address);
    if (table === null || member === undefined || member.state === 'dead' || this.membership.id === null)
      return;
    // A place that is down fails every new connection at once: resend at most once per retry period.
    // A loss within it still gets its resend, when the period is over (the connection that carried
    // the last one may be the one that broke).
    const now = this.clock.now();
    if (now - (this.lastResendAt.get(address) ?? Number.NEGATIVE_INFINITY) < this.config.tableRetryMs) {
      this.resendLater.add(address);
      return;
    }
    this.resendLater.delete(address);
    this.lastResendAt.set(address, now);
    for (const rep of this.replicas) {
      if (rep.role !== 'primary') continue;
      const a = table.data.partitions[rep.id];
      if (this.copies.restartBroken(rep, member.id)) continue;
      if (a !== undefined && (a.backup === member.id || a.target === member.id))
        this.resendUnacknowledged(rep, address);
    }
  }

  /** Primaries, every tick: resend what stalled, report copies and handovers. */
  tick(now: number): void {
    for (const address of this.resendLater)
      if (now - (this.lastResendAt.get(address) ?? Number.NEGATIVE_INFINITY) >= this.config.tableRetryMs)
        this.connectionLost(address);
    for (const rep of this.replicas) {
      if (rep.role !== 'primary') continue;
      this.resendIfStalled(rep, now);
      this.copies.tick(rep, now);
    }
    this.copies.startQueued();
  }

  private resendUnacknowledged(rep: PartitionReplica, address: string): void {
    for (const entry of rep.unacknowledged()) this.queueEntry(address, entry);
  }

  /** Queues a replication entry for address; flush() sends each backup's entries of the turn as one batch. */
  private queueEntry(address: string, e: ReplicateEntry): void {
    let q = this.entriesOut.get(address);
    if (q === undefined) {
      q = { batches: [[]], bytes: 0 };
      this.entriesOut.set(address, q);
    }
    const bytes = e.k.length * 3 + (e.v?.length ?? 0) + 32;
    let batch = q.batches[q.batches.length - 1]!;
    if (batch.length > 0 && q.bytes + bytes > MAX_BATCH_BYTES) {
      // One frame stays small: a resend of thousands of entries goes as several.
      batch = [];
      q.batches.push(batch);
      q.bytes = 0;
    }
    pushEntry(batch, e);
    q.bytes += bytes;
  }

  /**
   * Primary: when the oldest unacknowledged write has made no progress for three quarters of a
   * failure timeout (an entry or its ack was lost with a broken connection), sends the backup every
   * such entry again.
   */
  private resendIfStalled(rep: PartitionReplica, now: number): void {
    const seq = rep.oldestPendingSeq();
    const stall = this.stalls[rep.id];
    if (seq === 0) {
      this.stalls[rep.id] = undefined;
      return;
    }
    const table = this.membership.table!;
    const a = table.data.partitions[rep.id];
    const peer = a?.backup ?? a?.target ?? null;
    if (stall === undefined || stall.seq !== seq || stall.peer !== peer) {
      this.stalls[rep.id] = { seq, peer, since: now, first: now };
      return;
    }
    if (now - stall.since < this.config.failureTimeoutMs * RESEND_AFTER_FT) return;
    stall.since = now;
    const address = table.member(peer)?.address;
    if (address !== undefined) this.resendUnacknowledged(rep, address);
  }

  /**
   * Places this primary could not replicate to for a failure timeout, nor in the quarter of one
   * after its resend (ample for an answer on a live link): the
   * backups (or copy targets) of its partitions whose oldest write made no progress meanwhile. The
   * leader, which may still hear both, takes them off those partitions (a cut link between them).
   */
  unreachablePeers(now: number): number[] {
    const table = this.membership.table;
    if (table === null) return [];
    const out = new Set<number>();
    for (const rep of this.replicas) {
      const stall = this.stalls[rep.id];
      if (rep.role !== 'primary' || stall === undefined || now - stall.first < this.config.failureTimeoutMs)
        continue;
      const a = table.data.partitions[rep.id];
      const peer = a?.backup ?? a?.target ?? null;
      // Only the partner the write has waited for all along: a stall against an earlier one says nothing of it.
      if (peer !== null && peer === stall.peer) out.add(peer);
    }
    return [...out];
  }

  /**
   * Sends what this turn coalesced: each backup's replication entries as one batch, and the
   * acknowledgements per primary connection as one message.
   */
  flush(): void {
    if (this.entriesOut.size === 0 && this.ackDirty.size === 0) return;
    const tv = this.membership.version;
    if (this.entriesOut.size > 0) {
      for (const [address, q] of this.entriesOut)
        for (const es of q.batches) this.out.send(address, { t: 'replBatch', tv, es });
      this.entriesOut.clear();
    }
    if (this.ackDirty.size === 0) return;
    const byLink = new Map<ReplyTo, number[]>();
    for (const p of this.ackDirty) {
      const rep = this.replicas[p]!;
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
      this.out.reply(to, { t: 'replAcks', tv, id: this.membership.id!, as });
    }
  }

  /** Backup: applies one entry in order (buffering early ones), or refuses it from an older epoch. */
  handleReplicate(from: ReplyTo, m: ReplicateEntry): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'backup') {
      if (m.tv > this.membership.version) {
        this.membership.defer(from, m, from);
        return;
      }
      this.rejectReplication(
        from,
        m.p,
        rep?.epoch ?? 0,
        `place ${this.membership.id} is not the backup of partition ${m.p}`,
      );
      return;
    }
    if (m.tv > this.membership.version) this.membership.learnNewerTable();
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
    if (verdict === 'overflow' || rep.receivingSnapshot) return;
    this.scheduleAck(m.p, from);
  }

  /** Backup: a primary's entries of one turn. */
  handleReplicateBatch(from: ReplyTo, m: ReplicateBatch): void {
    const n = entryCount(m.es);
    for (let i = 0; i < n; i++) this.handleReplicate(from, entryAt(m.es, i, m.tv));
  }

  /** Primary: a backup's acknowledgements of one turn. */
  handleReplicateAcks(m: ReplicateAcks): void {
    const as = m.as;
    for (let i = 0; i + 2 < as.length; i += 3) this.handleReplicateAck(as[i]!, as[i + 1]!, as[i + 2]!, m.id);
  }

  /** The backup `from` holds partition p up to seq s in epoch e. */
  private handleReplicateAck(p: number, e: number, s: number, from: number): void {
    const rep = this.replicas[p];
    if (rep === undefined || rep.role !== 'primary' || e !== rep.epoch) return;
    const a = this.membership.table!.data.partitions[p];
    // Only the partner may acknowledge, and never past what was sent to it.
    if (a === undefined || from !== (a.backup ?? a.target) || s > rep.seq) return;
    rep.acknowledge(s, this.done);
    this.answerDone();
    // While a copy runs the partition has no backup, so acks come from the copy's target.
    this.copies.acknowledged(rep, s, this.clock.now());
  }

  /** Primary: its backup knows a newer epoch, so this place was deposed: it stops and learns the table. */
  handleReplicateReject(m: ReplicateReject): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'primary' || m.e <= rep.epoch) return;
    const abandoned: Waiter[] = [];
    rep.fence(abandoned);
    this.fail(abandoned, 'redirect', `partition ${m.p} changed primary`);
    this.copies.clear(rep.id);
    const leader = this.membership.table?.leader;
    if (leader && leader.id !== this.membership.id) this.membership.fetchTable(leader.address);
  }

  /** Target of a copy: applies one piece of the snapshot; acknowledges it, or the whole at the last. */
  handleSnapshot(from: ReplyTo, m: SnapshotChunk): void {
    const rep = this.replicas[m.p];
    if (rep === undefined || rep.role !== 'backup') {
      if (m.tv > this.membership.version) this.membership.defer(from, m, from);
      return;
    }
    const a = this.membership.table!.data.partitions[m.p];
    if (a === undefined || a.primary !== m.from || a.target !== this.membership.id || m.e < rep.epoch) return;
    const attempt = { from: m.from, epoch: m.e, g: m.g };
    if (m.i === 0) {
      if (!rep.acceptsFirstPiece(attempt)) return;
      rep.beginCopy(attempt);
    } else if (!rep.receivesPieceOf(attempt)) return;
    rep.applySnapshotChunk(m.kv, m.rs, m.sw, m.sd === true);
    if (m.last) rep.finishSnapshot(m.s, m.e);
    // Every piece is acknowledged, the last too: its acknowledgement says the snapshot is whole.
    const id = this.membership.id!;
    this.out.reply(from, { t: 'snapAck', tv: this.membership.version, p: m.p, e: m.e, i: m.i, g: m.g, id });
    if (m.last) this.scheduleAck(m.p, from);
  }

  /** Client requests waiting here for a write to be replicated. */
  get inFlight(): number {
    return this.parkedCount;
  }

  /** A client request was parked (behind a write not yet replicated); it leaves through `done`. */
  parked(): void {
    this.parkedCount++;
  }

  /** Answers every waiter whose write completed. */
  answerDone(): void {
    const done = this.done;
    if (done.length === 0) return;
    const tv = this.membership.version;
    for (const w of done) answer(this.out, w, tv);
    this.released(done.length);
    done.length = 0;
  }

  /**
   * A replica gives up its writes still waiting for the backup: their clients get an error (they
   * retry; the outcome, remembered, comes back from whoever holds it). Writes that completed stay in
   * `done`, to be answered as the successes they are.
   */
  private failAbandoned(rep: PartitionReplica, code: ErrorCode, why: string): void {
    const abandoned: Waiter[] = [];
    rep.abandonPending(abandoned);
    this.fail(abandoned, code, why);
  }

  /** Answers waiters with an error. */
  private fail(waiters: Waiter[], code: ErrorCode, why: string): void {
    const tv = this.membership.version;
    for (const w of waiters) this.out.reply(w.to, { t: 'err', id: w.id, tv, code, msg: why });
    this.released(waiters.length);
  }

  private released(n: number): void {
    this.parkedCount -= n;
    invariant(this.parkedCount >= 0, () => `${-this.parkedCount} more requests answered than parked`);
  }

  private rejectReplication(to: ReplyTo, p: number, epoch: number, why: string): void {
    this.out.reply(to, { t: 'replReject', tv: this.membership.version, p, e: epoch, msg: why });
  }

  /** Acknowledges partition p's replication back over `to`, once per turn (see flush). */
  private scheduleAck(p: number, to: ReplyTo): void {
    this.ackTo[p] = to;
    this.ackDirty.add(p);
  }
}
