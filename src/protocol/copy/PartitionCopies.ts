import { invariant } from '../invariant.js';
import type { Membership } from '../membership/Membership.js';
import type { Outbox } from '../Outbox.js';
import type { PlaceConfig } from '../PlaceConfig.js';
import type { PartitionReplica, SnapshotPiece } from '../replication/PartitionReplica.js';
import type { PartitionAssignment } from '../table/PartitionTable.js';
import { completeCopy, completeHandover, handingOver } from '../table/tableChanges.js';
import type { CopyComplete, HandoverReady, SnapshotAck, SnapshotChunk } from '../wire/messages.js';

/**
 * What a primary is doing to restore or move a partition, if anything:
 * - copy: the whole partition goes to `target` as a snapshot complete at `snapshotSeq`, one piece at
 *   a time (each once the previous is acknowledged); writes after it follow as replication. Until
 *   the target holds the snapshot (`syncSeq` null) writes are answered at once; from then on they
 *   wait for the target too, and the copy is complete once it has everything up to `syncSeq`.
 * - handover: the primary role goes to the backup `to`; this place answers nothing meanwhile and
 *   reports once its backup has every write it answered.
 */
export type CopyState =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'copy';
      readonly target: number;
      readonly snapshotSeq: number;
      /** Pieces still to send; a sent piece is emptied so its memory goes. */
      readonly pieces: SnapshotPiece[];
      syncSeq: number | null;
    }
  | { readonly kind: 'handover'; readonly to: number };

const NONE: CopyState = { kind: 'none' };

/**
 * Whole-partition copies and primary handovers, on both sides of the leader: the primary's copy and
 * handover states (one CopyState per partition, owned here), its reports of completion, and the
 * leader's table changes that complete them. The copy's target applies pieces in Replication.
 */
export class PartitionCopies {
  private readonly states: CopyState[] = [];
  /** When completion was last reported per partition (reports repeat until the table shows them). */
  private readonly reportedAt: number[] = [];

  constructor(
    private readonly config: PlaceConfig,
    private readonly out: Outbox,
    private readonly membership: Membership,
  ) {}

  /** The copy or handover partition p is in at this place (as its primary). */
  state(p: number): CopyState {
    return this.states[p] ?? NONE;
  }

  /** True while the partition's primary role is being handed over from this place. */
  handingOver(p: number): boolean {
    return this.state(p).kind === 'handover';
  }

  /**
   * True when a primary's write waits for its partner (the backup, or a copy's target once it holds
   * the snapshot); false when it is streamed to a copy's target and answered at once.
   */
  waitsForPartner(rep: PartitionReplica, a: PartitionAssignment): boolean {
    const s = this.state(rep.id);
    return a.backup !== null || (s.kind === 'copy' && s.syncSeq !== null);
  }

  /** This place is no longer the partition's primary (or newly is): nothing is in progress. */
  clear(p: number): void {
    this.states[p] = NONE;
  }

  /** Primary: follows what the table says of the partition: a handover, a copy to start, or nothing. */
  follow(rep: PartitionReplica, a: PartitionAssignment): void {
    const p = rep.id;
    const before = this.state(p);
    if (handingOver(a) && a.target !== null) this.states[p] = { kind: 'handover', to: a.target };
    else if (a.target === null) this.states[p] = NONE;
    else if (before.kind !== 'copy' || before.target !== a.target) {
      this.states[p] = before.kind === 'copy' ? before : NONE;
      this.start(rep, a.target);
    }
  }

  /** Primary: starts copying the whole partition to target, from its first piece. */
  private start(rep: PartitionReplica, target: number): void {
    if (this.membership.table?.member(target) === undefined) return;
    invariant(target !== this.membership.id, () => `partition ${rep.id} copy to its own primary`);
    this.states[rep.id] = {
      kind: 'copy',
      target,
      snapshotSeq: rep.seq,
      pieces: rep.snapshotPieces(this.config.snapshotPieceBytes),
      syncSeq: null,
    };
    this.reportedAt[rep.id] = Number.NEGATIVE_INFINITY;
    this.sendPiece(rep, 0);
  }

  private sendPiece(rep: PartitionReplica, i: number): void {
    const s = this.state(rep.id);
    if (s.kind !== 'copy') return;
    const address = this.membership.table?.member(s.target)?.address;
    const piece = s.pieces[i];
    if (address === undefined || piece === undefined) return;
    const chunk: SnapshotChunk = {
      t: 'snap',
      tv: this.membership.version,
      p: rep.id,
      e: rep.epoch,
      s: s.snapshotSeq,
      from: this.membership.id!,
      i,
      n: s.pieces.length,
      kv: piece.kv,
      rs: piece.rs,
    };
    this.out.send(address, chunk);
    // Free what was sent; the last piece's ack comes as a replication ack.
    s.pieces[i] = { kv: [], rs: [] };
  }

  /** Primary: the target holds piece i; the next one goes. */
  handleSnapshotAck(rep: PartitionReplica | undefined, m: SnapshotAck): void {
    if (rep === undefined || rep.role !== 'primary' || m.e !== rep.epoch) return;
    const s = this.state(rep.id);
    if (s.kind === 'copy' && s.target === m.id) this.sendPiece(rep, m.i + 1);
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
    if (s.kind === 'copy' && seq >= s.snapshotSeq) {
      // The target holds the snapshot: from now on writes wait for it too.
      if (s.syncSeq === null) s.syncSeq = rep.seq;
      invariant(
        s.syncSeq >= s.snapshotSeq,
        () => `partition ${rep.id} copy in sync at ${s.syncSeq} before its snapshot at ${s.snapshotSeq}`,
      );
      if (seq >= s.syncSeq) this.reportCopy(rep, s.target, now);
    }
    if (s.kind === 'handover') this.reportHandover(rep, now);
  }

  /** Primary, on every tick: reports again what is complete, until the table shows it. */
  tick(rep: PartitionReplica, now: number): void {
    const s = this.state(rep.id);
    if (s.kind === 'copy' && this.complete(rep, s)) this.reportCopy(rep, s.target, now);
    if (s.kind === 'handover') this.reportHandover(rep, now);
  }

  private complete(rep: PartitionReplica, s: CopyState & { kind: 'copy' }): boolean {
    return s.syncSeq !== null && rep.ackedSeq >= s.syncSeq;
  }

  /** Primary: tells the leader a copy is complete and in sync (again, until the table reflects it). */
  private reportCopy(rep: PartitionReplica, target: number, now: number): void {
    if (!this.reportDue(rep.id, now)) return;
    this.tellLeader({ t: 'copied', tv: this.membership.version, p: rep.id, to: target, e: rep.epoch });
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

  /** Leader: a copy is complete; its target becomes the backup. */
  handleCopied(m: CopyComplete): void {
    if (!this.membership.isLeader()) return;
    this.membership.committer.change((t) => completeCopy(t, m.p, m.to, m.e));
  }

  /** Leader: a handover is ready; primary and backup swap. */
  handleHandedOver(m: HandoverReady): void {
    if (!this.membership.isLeader()) return;
    this.membership.committer.change((t) => completeHandover(t, m.p, m.from, m.e));
  }
}
