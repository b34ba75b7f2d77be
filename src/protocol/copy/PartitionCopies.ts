import { invariant } from '../invariant.js';
import type { Membership } from '../membership/Membership.js';
import type { Outbox } from '../Outbox.js';
import type { Clock, PlaceConfig } from '../PlaceConfig.js';
import type { PartitionReplica, SnapshotCursor } from '../replication/PartitionReplica.js';
import type { PartitionAssignment } from '../table/PartitionTable.js';
import { completeCopy, completeHandover, handingOver } from '../table/tableChanges.js';
import type { CopyComplete, HandoverReady, SnapshotAck, SnapshotChunk } from '../wire/messages.js';

/**
 * What a primary is doing to restore or move a partition, if anything:
 * - queued: a copy to `target` waits for one of this place's copy slots (copies are paced); writes
 *   are answered at once meanwhile and not streamed (the snapshot, read later, will hold them).
 * - copy: the whole partition goes to `target` as a snapshot read one piece at a time, each piece
 *   sent once the previous is acknowledged; writes after `snapshotSeq` follow as replication. Until
 *   the target holds the snapshot (`syncSeq` null) writes are answered at once; from then on they
 *   wait for the target too, and the copy is complete once it has everything up to `syncSeq`.
 * - handover: the primary role goes to the backup `to`; this place answers nothing meanwhile and
 *   reports once its backup has every write it answered.
 */
export type CopyState =
  | { readonly kind: 'none' }
  | { readonly kind: 'queued'; readonly target: number }
  | {
      readonly kind: 'copy';
      readonly target: number;
      readonly snapshotSeq: number;
      readonly cursor: SnapshotCursor;
      /** Which attempt: a copy started again is a new one, and the target ignores the old one's pieces. */
      readonly g: number;
      piecesSent: number;
      syncSeq: number | null;
      /** When the target last acknowledged something of this copy (or the copy started). */
      progressAt: number;
      readonly startedAt: number;
      /** Keys and bytes (about) sent so far, for the copy_finished event and progress. */
      readonly keysTotal: number;
      keysSent: number;
      bytesSent: number;
      /** Set once copy_finished was reported (completion is reported to the leader again until done). */
      finished: boolean;
    }
  | { readonly kind: 'handover'; readonly to: number };

/** How a primary's write reaches its partner: waited for, streamed and answered at once, or not sent. */
export type PartnerMode = 'sync' | 'async' | 'none';

const NONE: CopyState = { kind: 'none' };

/**
 * Whole-partition copies and primary handovers, on both sides of the leader: the primary's copy and
 * handover states (one CopyState per partition, owned here), the pacing of copies (at most
 * maxCopiesInFlight send pieces at once, so that no place spends long turns building and sending
 * them), reports of completion, and the leader's table changes that complete them. The copy's
 * target applies pieces in Replication.
 */
export class PartitionCopies {
  private readonly states: CopyState[] = [];
  /** When completion was last reported per partition (reports repeat until the table shows them). */
  private readonly reportedAt: number[] = [];
  /** Attempts started by this place (numbers them). */
  private attempts = 0;
  /** The defect switch of this site (defects.ts), read once: every copy at once, every piece at once. */
  private readonly burst: boolean;

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: Outbox,
    private readonly membership: Membership,
    private readonly replicaOf: (p: number) => PartitionReplica | undefined,
  ) {
    this.burst = config.defects?.has('copy-burst') === true;
  }

  /** The copy or handover partition p is in at this place (as its primary). */
  state(p: number): CopyState {
    return this.states[p] ?? NONE;
  }

  /** How a primary's write reaches the partition's other holder (the backup, or a copy's target). */
  partnerMode(rep: PartitionReplica, a: PartitionAssignment): PartnerMode {
    if (a.backup !== null) return 'sync';
    const s = this.state(rep.id);
    if (s.kind !== 'copy') return 'none';
    return s.syncSeq !== null ? 'sync' : 'async';
  }

  /** This place is no longer the partition's primary (or newly is): nothing is in progress. */
  clear(p: number): void {
    this.states[p] = NONE;
  }

  /** Primary: follows what the table says of the partition: a handover, a copy to queue, or nothing. */
  follow(rep: PartitionReplica, a: PartitionAssignment): void {
    const p = rep.id;
    const before = this.state(p);
    if (handingOver(a) && a.target !== null) this.states[p] = { kind: 'handover', to: a.target };
    else if (a.target === null) this.states[p] = NONE;
    else if ((before.kind !== 'copy' && before.kind !== 'queued') || before.target !== a.target) {
      invariant(a.target !== this.membership.id, () => `partition ${p} copy to its own primary`);
      this.states[p] = { kind: 'queued', target: a.target };
    }
  }

  /** Starts queued copies while this place has copy slots free (in partition order). */
  startQueued(): void {
    let busy = 0;
    for (const s of this.states) if (s !== undefined && s.kind === 'copy' && s.syncSeq === null) busy++;
    const slots = this.burst ? Number.POSITIVE_INFINITY : this.config.maxCopiesInFlight;
    for (let p = 0; p < this.states.length && busy < slots; p++) {
      const s = this.states[p];
      const rep = this.replicaOf(p);
      if (s?.kind !== 'queued' || rep?.role !== 'primary') continue;
      if (this.membership.table?.member(s.target) === undefined) continue;
      this.start(rep, s.target);
      busy++;
    }
  }

  /** Primary: starts copying the whole partition to target, from its first piece. */
  private start(rep: PartitionReplica, target: number): void {
    this.states[rep.id] = {
      kind: 'copy',
      target,
      snapshotSeq: rep.seq,
      cursor: rep.snapshot(),
      g: ++this.attempts,
      piecesSent: 0,
      syncSeq: null,
      progressAt: this.clock.now(),
      startedAt: this.clock.now(),
      keysTotal: rep.data.size,
      keysSent: 0,
      bytesSent: 0,
      finished: false,
    };
    this.out.event({ event: 'copy_started', partition: rep.id, to: target, attempt: this.attempts });
    this.reportedAt[rep.id] = Number.NEGATIVE_INFINITY;
    // The defect: the whole snapshot goes out in one turn, without waiting for the target.
    while (this.sendNextPiece(rep) && this.burst);
  }

  /** Sends the next piece of the copy, if there is one; false when there was none to send. */
  private sendNextPiece(rep: PartitionReplica): boolean {
    const s = this.state(rep.id);
    if (s.kind !== 'copy' || s.cursor.finished) return false;
    const address = this.membership.table?.member(s.target)?.address;
    if (address === undefined) return false;
    const piece = s.cursor.next(this.config.snapshotPieceBytes);
    s.keysSent += piece.kv.length / 2;
    s.bytesSent += piece.bytes;
    const chunk: SnapshotChunk = {
      t: 'snap',
      tv: this.membership.version,
      p: rep.id,
      e: rep.epoch,
      s: s.snapshotSeq,
      from: this.membership.id!,
      i: s.piecesSent++,
      last: piece.last,
      g: s.g,
      kv: piece.kv,
      rs: piece.rs,
      sw: piece.sw,
      sd: piece.sd,
    };
    this.out.send(address, chunk);
    return true;
  }

  /** Primary: the target holds the last piece sent; the next one goes (the last piece's ack is a replication ack). */
  handleSnapshotAck(rep: PartitionReplica | undefined, m: SnapshotAck): void {
    if (rep === undefined || rep.role !== 'primary' || m.e !== rep.epoch) return;
    const s = this.state(rep.id);
    if (s.kind !== 'copy' || s.target !== m.id || m.g !== s.g || m.i !== s.piecesSent - 1) return;
    s.progressAt = this.clock.now();
    if (!s.cursor.finished) {
      this.sendNextPiece(rep);
      return;
    }
    if (s.syncSeq !== null) return;
    // The target holds the whole snapshot: from now on writes wait for it too, and a slot is free.
    s.syncSeq = rep.seq;
    invariant(
      s.syncSeq >= s.snapshotSeq,
      () => `partition ${rep.id} copy in sync at ${s.syncSeq} before its snapshot at ${s.snapshotSeq}`,
    );
    this.startQueued();
    if (rep.ackedSeq >= s.syncSeq) this.reportCopy(rep, s.target, this.clock.now());
  }

  /**
   * Primary: the connection to member broke with a copy to it under way (not yet caught up): the
   * copy starts again. Returns false when there was no such copy.
   */
  restartBroken(rep: PartitionReplica, member: number): boolean {
    const s = this.state(rep.id);
    if (s.kind !== 'copy' || s.target !== member || this.complete(rep, s)) return false;
    this.start(rep, member);
    return true;
  }

  /** Primary: the backup or copy target holds everything up to seq. */
  acknowledged(rep: PartitionReplica, seq: number, now: number): void {
    const s = this.state(rep.id);
    if (s.kind === 'copy') s.progressAt = now;
    // Only the current attempt's last piece puts a copy in sync (handleSnapshotAck): an ack that
    // comes from an attempt given up, however high, says nothing about the one under way.
    if (s.kind === 'copy' && s.syncSeq !== null && seq >= s.syncSeq) this.reportCopy(rep, s.target, now);
    if (s.kind === 'handover') this.reportHandover(rep, now);
  }

  /** Primary, on every tick: reports again what is complete, until the table shows it. */
  tick(rep: PartitionReplica, now: number): void {
    const s = this.state(rep.id);
    if (s.kind === 'copy' && !this.complete(rep, s) && now - s.progressAt > this.config.failureTimeoutMs) {
      // Nothing came back for a failure timeout: a piece or its acknowledgement was lost without a
      // broken connection to tell (it waited too long for a table at the target, say), or the target
      // holds a gap it can never fill (an entry answered before the copy was in sync, dropped at its
      // buffer's bound, is never sent again). Start again from a fresh snapshot.
      this.start(rep, s.target);
      return;
    }
    if (s.kind === 'copy' && this.complete(rep, s)) this.reportCopy(rep, s.target, now);
    if (s.kind === 'handover') this.reportHandover(rep, now);
  }

  private complete(rep: PartitionReplica, s: CopyState & { kind: 'copy' }): boolean {
    return s.syncSeq !== null && rep.ackedSeq >= s.syncSeq;
  }

  /** Primary: tells the leader a copy is complete and in sync (again, until the table reflects it). */
  private reportCopy(rep: PartitionReplica, target: number, now: number): void {
    const s = this.state(rep.id);
    if (s.kind === 'copy' && !s.finished) {
      s.finished = true;
      this.out.event({
        event: 'copy_finished',
        partition: rep.id,
        to: target,
        keys: s.keysSent,
        bytes: s.bytesSent,
        durationMs: now - s.startedAt,
      });
    }
    // start() clears the time of the last report: a time here means this copy was reported before.
    const again = (this.reportedAt[rep.id] ?? Number.NEGATIVE_INFINITY) !== Number.NEGATIVE_INFINITY;
    if (!this.reportDue(rep.id, now)) return;
    const report: CopyComplete = {
      t: 'copied',
      tv: this.membership.version,
      p: rep.id,
      to: target,
      e: rep.epoch,
    };
    this.tellLeader(report);
    // Not shown in the table after a first report: this place may not reach the leader (a link cut
    // one way), while the target, which holds the copy, may. It passes the report on. The report
    // says only what the direct one says, and the leader checks it against its table the same way.
    const via = this.membership.table?.member(target);
    if (
      again &&
      via !== undefined &&
      !this.membership.isLeader() &&
      via.id !== this.membership.table?.leader?.id
    )
      this.out.send(via.address, { ...report, relay: true });
  }

  /** Primary handing over: once its backup has every write it answered, tells the leader (again, until done). */
  private reportHandover(rep: PartitionReplica, now: number): void {
    if (rep.pendingCount > 0 || !this.reportDue(rep.id, now)) return;
    const from = this.membership.id!;
    this.tellLeader({ t: 'handedOver', tv: this.membership.version, p: rep.id, from, e: rep.epoch });
  }

  /** Sends a report to the leader, or acts on it at once when this place leads. */
  private tellLeader(msg: CopyComplete | HandoverReady): void {
    const leader = this.membership.table?.leader;
    if (leader === undefined) return;
    if (leader.id !== this.membership.id) this.out.send(leader.address, msg);
    else if (msg.t === 'copied') this.handleCopied(msg);
    else this.handleHandedOver(msg);
  }

  private reportDue(p: number, now: number): boolean {
    if (now - (this.reportedAt[p] ?? Number.NEGATIVE_INFINITY) < this.config.tableRetryMs) return false;
    this.reportedAt[p] = now;
    return true;
  }

  /** Leader: a copy is complete; its target becomes the backup. The target passes a relayed report to its leader. */
  handleCopied(m: CopyComplete): void {
    if (!this.membership.isLeader()) {
      const leader = this.membership.table?.leader;
      // Passed on once, and only by the copy's target: no report circles between places.
      if (m.relay === true && m.to === this.membership.id && leader !== undefined)
        this.out.send(leader.address, { t: 'copied', tv: m.tv, p: m.p, to: m.to, e: m.e });
      return;
    }
    this.membership.committer.change((t) => completeCopy(t, m.p, m.to, m.e));
  }

  /** Leader: a handover is ready; primary and backup swap. */
  handleHandedOver(m: HandoverReady): void {
    if (!this.membership.isLeader()) return;
    this.membership.committer.change((t) => completeHandover(t, m.p, m.from, m.e));
  }
}
