import type { Membership } from '../membership/Membership.js';
import type { Outbox, ReplyTo } from '../Outbox.js';
import { type Clock, heartbeatMs, type PlaceConfig } from '../PlaceConfig.js';
import type { Replication } from '../replication/Replication.js';
import { deputyOf, isNewer, leaderOf, type Member } from '../table/PartitionTable.js';
import { markDead, newTerm, planHandovers, planRepair } from '../table/tableChanges.js';
import type { Heartbeat, HeartbeatAck, InvalidNotice, TableReply } from '../wire/messages.js';
import { FailureDetector } from './FailureDetector.js';
import { Lease } from './Lease.js';

/**
 * Who is alive and who leads: heartbeats (every member to the leader, the leader to its deputy) and
 * the leases their answers grant (Lease.ts), the leader's failure detector and the repairs it
 * starts, the others' watch on the leader, the deputy's takeover, and the verdict that the store is
 * invalid.
 */
export class Leadership {
  /** Sticky: once the store is invalid here, every request fails with this reason. */
  private invalidReason: string | null = null;
  private readonly lease: Lease;
  private readonly detector: FailureDetector;
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
  /** The defect switch of this site (defects.ts), read once. */
  private readonly leaseIgnored: boolean;
  /** This place's longest event-loop block lately (ms), as the runtime measured it. */
  private ownLoopBlockMs: number | null = null;
  /** The leader's view of each member's, from their heartbeats. */
  private readonly loopBlocks = new Map<number, number>();

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: Outbox,
    private readonly membership: Membership,
    private readonly replication: Replication,
  ) {
    this.lease = new Lease(Math.floor(config.failureTimeoutMs / 2));
    this.leaseIgnored = config.defects?.has('lease-ignored') === true;
    this.detector = new FailureDetector(config.failureTimeoutMs);
    this.lastTickAt = clock.now();
    this.lastLeaderContact = clock.now();
  }

  /** True while this place may answer as a primary: it holds a lease and is not re-checking its view. */
  get hasLease(): boolean {
    // The defect: a primary answers whether or not it holds a lease.
    if (this.leaseIgnored) return true;
    return !this.verifying && this.lease.heldAt(this.clock.now());
  }

  /** Why the store is invalid, as this place knows it, or null. */
  get invalid(): string | null {
    const table = this.membership.table;
    return this.invalidReason ?? (table !== null && !table.data.valid ? table.data.invalidReason : null);
  }

  /** The runtime's measure of this place's longest event-loop block lately (ms). */
  observeLoopBlock(ms: number): void {
    this.ownLoopBlockMs = ms;
  }

  /** Each place's longest event-loop block lately, as this place knows them (its own included). */
  loopBlockMs(): ReadonlyMap<number, number> {
    const all = new Map(this.loopBlocks);
    const me = this.membership.id;
    if (me !== null && this.ownLoopBlockMs !== null) all.set(me, this.ownLoopBlockMs);
    return all;
  }

  /** This place was replaced: its lease is void at once. */
  revokeLease(): void {
    this.lease.revoke();
  }

  /**
   * First thing on every tick: a process that wakes up late was busy or paused, and the silence it
   * could not hear meanwhile is not others'. Busy (late by less than half a failure timeout): the
   * time it was late is credited to everyone it watches, so only silence while it listened counts
   * (its input, still unread, is handled before the next tick). Paused (later than that): it forgets
   * all silence and re-checks its view before it acts.
   */
  noticePause(now: number): void {
    const lateMs = now - this.lastTickAt - this.config.tickMs;
    if (now - this.lastTickAt > this.config.failureTimeoutMs / 2) {
      this.detector.resetAll(now);
      this.lastLeaderContact = now;
      this.suspectLeaderSince = null;
      this.verifying = this.membership.id !== null && this.membership.otherLiveMembers().length > 0;
    } else if (lateMs > 0) {
      this.detector.credit(lateMs, now);
      this.lastLeaderContact = Math.min(now, this.lastLeaderContact + lateMs);
    }
    this.lastTickAt = now;
  }

  /** Heartbeats, and the leader's or the others' watch. Returns false while this place re-checks its view. */
  tick(now: number): boolean {
    // A place re-checking its view still shows it is alive (a busy place must not fall silent and be
    // declared dead for it); its lease stays void until the check is done.
    if (now - this.lastHeartbeatAt >= heartbeatMs(this.config)) this.sendHeartbeat(now);
    if (this.verifying) {
      if (this.membership.fetchDue(now)) this.membership.askEveryone();
      return false;
    }
    if (this.membership.isLeader()) this.leaderTick(now);
    else this.watchLeader(now);
    return true;
  }

  private sendHeartbeat(now: number): void {
    const table = this.membership.table!;
    const leads = this.membership.isLeader();
    const target = leads ? deputyOf(this.membership.committer.decided) : table.leader;
    this.lastHeartbeatAt = now;
    if (target === undefined || target.id === this.membership.id) {
      // Alone (no deputy to depose it): the leader's lease is its own.
      if (leads) this.lease.grantSelf(now);
      return;
    }
    const hb: Heartbeat = {
      t: 'hb',
      tv: this.membership.version,
      term: table.data.term,
      id: this.membership.id!,
      ts: now,
    };
    if (this.ownLoopBlockMs !== null) hb.lb = this.ownLoopBlockMs;
    this.out.send(target.address, hb);
  }

  /** Grantor: answers a heartbeat (renewing the sender's lease), unless the sender is dead by its view. */
  handleHeartbeat(from: ReplyTo, m: Heartbeat): void {
    const table = this.membership.table;
    const me = this.membership.id;
    if (table === null || me === null || this.verifying) return;
    // Judge by what this place has decided, committed or not: a sender already declared dead gets no lease.
    const decided = this.membership.committer.decided;
    if (decided.members.find((x) => x.id === m.id)?.state === 'dead' && table.member(m.id)?.state !== 'dead')
      return;
    const sender = table.member(m.id);
    if (sender?.state === 'dead' || m.term < table.data.term) {
      // A place declared dead, or one that missed a leader change: it must see the table to act on it.
      this.out.reply(from, { t: 'tableUpdate', tv: this.membership.version, table: table.data });
      if (sender?.state === 'dead') return;
    }
    if (this.membership.isLeader()) this.detector.heard(m.id, this.clock.now());
    if (m.lb !== undefined) this.loopBlocks.set(m.id, m.lb);
    if (m.id === table.leader?.id) this.leaderHeard();
    const ack: HeartbeatAck = {
      t: 'hbAck',
      tv: this.membership.version,
      term: table.data.term,
      id: me,
      ts: m.ts,
    };
    this.out.reply(from, ack);
    if (m.tv > this.membership.version) this.membership.learnNewerTable();
  }

  /** Holder: the grantor answered; the lease runs from when the heartbeat was sent. */
  handleHeartbeatAck(from: ReplyTo, m: HeartbeatAck): void {
    const table = this.membership.table;
    if (table === null) return;
    const leads = this.membership.isLeader();
    // The leader decides tables; only the deputy's tableAck commits one, never a peer's newer version.
    if (!leads && (m.term > table.data.term || m.tv > table.version)) {
      this.out.reply(from, { t: 'tableGet', tv: this.membership.version });
      return;
    }
    const committer = this.membership.committer;
    if (m.term !== table.data.term && m.term !== committer.draft?.term) return;
    const grantor = leads ? deputyOf(committer.decided)?.id : table.leader?.id;
    if (m.id !== grantor) return;
    this.lease.renewFrom(m.ts);
    if (!leads) this.leaderHeard();
  }

  /** The leader (or, for the leader, its deputy) showed a sign of life. */
  leaderHeard(): void {
    this.lastLeaderContact = this.clock.now();
    this.suspectLeaderSince = null;
    this.peersAgreeing.clear();
  }

  /** A member showed its table: adopt it if newer; otherwise it agrees with this place's view. */
  handleTableReply(msg: TableReply): void {
    const before = this.membership.table?.data;
    // A leader's own term has no tables but those it decided: one shown back (its deputy holds the
    // pending one) becomes current only through the commit, which also tells the places it concerns.
    // It still shows that the peer is alive and follows this leader.
    const own =
      before !== undefined &&
      this.membership.isLeader() &&
      leaderOf(msg.table)?.id === this.membership.id &&
      msg.table.term === before.term;
    if (!own) this.membership.adopt(msg.table);
    const reference = own ? this.membership.committer.decided : before;
    if (msg.id === null || reference === undefined || isNewer(msg.table, reference)) return;
    // An answer is a sign of life too (a member following an older leader heartbeats that one).
    if (this.membership.isLeader()) this.detector.heard(msg.id, this.clock.now());
    this.verifying = false;
    if (this.suspectLeaderSince !== null) this.peersAgreeing.set(msg.id, this.clock.now());
  }

  /** Another place says the store is invalid: believed unless it speaks from an older view. */
  handleInvalidNotice(msg: InvalidNotice): void {
    const table = this.membership.table;
    if (table === null) return;
    // A place with an older view (it was paused, say) cannot judge the cluster as it is now.
    const mine = table.data;
    if (msg.term > mine.term || (msg.term === mine.term && msg.tv >= mine.version))
      this.becomeInvalid(msg.reason);
  }

  /**
   * Non-leaders watch the leader. The deputy takes over after a failure timeout of silence; the others
   * ask the deputy for news, and if the deputy is silent too, leader and deputy are lost together.
   */
  private watchLeader(now: number): void {
    const table = this.membership.table!;
    const silentMs = now - this.lastLeaderContact;
    if (silentMs <= this.config.failureTimeoutMs) return;
    if (this.suspectLeaderSince === null) {
      this.suspectLeaderSince = now;
      this.peersAgreeing.clear();
    }
    const leader = table.leader!;
    const others = this.membership.otherLiveMembers().filter((m) => m.id !== leader.id);
    // Ask everyone: a member with a newer table shows this place what it missed (maybe its own death).
    if (this.membership.fetchDue(now)) this.membership.askEveryone();
    const deputy = table.deputy;
    if (deputy?.id === this.membership.id) {
      // Take over only once another member confirmed this view, unless there is nobody else to ask.
      if (others.length === 0 || this.agreedLately(now) !== null) this.takeOver(leader.id);
      return;
    }
    if (deputy === undefined) return;
    // A deputy that answered lately is alive and will take over; one that answered and then died is not.
    if (this.agreedLately(now, deputy.id) !== null) return;
    // Silence from everyone says more about this place (cut off, its output stalled) than about the
    // store: judge the store lost only once some other member has answered.
    const othersBesideDeputy = others.filter((m: Member) => m.id !== deputy.id).length;
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
    this.membership.committer.reset();
    this.leaderHeard();
    this.membership.committer.change((t) => planRepair(markDead(newTerm(t), [oldLeader])));
  }

  private leaderTick(now: number): void {
    const table = this.membership.table!;
    const me = this.membership.id;
    const watched = table.data.members.filter((m) => m.state !== 'dead' && m.id !== me).map((m) => m.id);
    this.detector.watch(watched, now);
    const suspects = this.detector.suspects(now);
    const committer = this.membership.committer;
    if (suspects.length > 1 && suspects.length === watched.length) {
      // Everyone silent at once says more about this place (cut off, its output stalled, deposed
      // meanwhile) than about the others: writing them all off would leave it leading alone, on a lease
      // of its own, beside the cluster that went on. Ask around instead; act once someone answers.
      if (this.membership.fetchDue(now)) this.membership.askEveryone();
    } else if (suspects.length > 0) committer.change((t) => planRepair(markDead(t, suspects)));
    // Once all is repaired, even out the primaries (a spare that took over backups takes primaries too).
    else if (committer.idle) committer.change(planHandovers);
    committer.retry(now, this.config.tableRetryMs);
  }

  /** Marks the store invalid here, for good, and tells every place this one knows. */
  becomeInvalid(reason: string): void {
    if (this.invalidReason !== null) return;
    this.invalidReason = reason;
    this.replication.failPending('invalid', `the store is invalid: ${reason}`);
    const table = this.membership.table;
    for (const m of table?.data.members ?? []) {
      if (m.id !== this.membership.id && m.state !== 'dead') {
        this.out.send(m.address, {
          t: 'invalid',
          tv: this.membership.version,
          term: table?.data.term ?? 0,
          reason,
        });
      }
    }
  }
}
