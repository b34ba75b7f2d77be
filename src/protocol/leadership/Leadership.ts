import type { Membership } from '../membership/Membership.js';
import type { Outbox, ReplyTo } from '../Outbox.js';
import { type Clock, heartbeatMs, type PlaceConfig } from '../PlaceConfig.js';
import type { Replication } from '../replication/Replication.js';
import { isNewer, leaderOf, majorityOf, type TableData, votersOf } from '../table/PartitionTable.js';
import {
  declareSilent,
  dropUnreachable,
  markDead,
  newTerm,
  planHandovers,
  planRepair,
  pruneDead,
} from '../table/tableChanges.js';
import type {
  Heartbeat,
  HeartbeatAck,
  InvalidNotice,
  TableReply,
  VoteReply,
  VoteRequest,
} from '../wire/messages.js';
import { FailureDetector } from './FailureDetector.js';
import { LeaderLease, Lease } from './Lease.js';
import type { Voter } from './Voter.js';

/**
 * A takeover under way: this place asked the voters for a term, first in a pre-vote that changes
 * nothing at the voters (so a place that alone lost the leader does not disturb the others), then
 * for real.
 */
interface Campaign {
  pre: boolean;
  term: number;
  startedAt: number;
  granted: Set<number>;
  asked: Set<number>;
  /** The tables the votes showed (this place's own first): a majority of each one's voters must grant. */
  tables: TableData[];
}

/** Clock drift allowed between places (1%), taken off every lease a leader hands on. */
const DRIFT_MARGIN = 0.97;
/**
 * Heartbeats are due this much before a full period has passed: ticks of a clock that runs fast or
 * slow land a hair short of the period in floating point, which would delay every heartbeat by a tick.
 */
const HEARTBEAT_SLACK_MS = 1;

/**
 * Who is alive and who leads (docs/control-plane.md): heartbeats (every member to the leader, the
 * leader to every other voter) and the leases their answers grant (Lease.ts), the leader's failure
 * detector and the repairs it starts, the others' watch on the leader, the vote by which a voter takes
 * over, and the verdict that the store is invalid, which only a committed table gives.
 */
export class Leadership {
  /** Sticky: once the store is invalid here, every request fails with this reason. */
  private invalidReason: string | null = null;
  private readonly lease: Lease;
  private readonly leaderLease: LeaderLease;
  private readonly detector: FailureDetector;
  /** The newest answer of the leader that came with a newer table than this place holds. */
  private aheadAck: HeartbeatAck | null = null;
  /** Member: the peers its last tick found it cannot replicate to. */
  private reportedUnreachable: number[] = [];
  /** The term of this place's last tick as leader. */
  private termLed = -1;
  /**
   * The last decided table in which evening out primaries and pruning the dead changed nothing. Both
   * are pure functions of the table (tables are never changed in place), so until another table is
   * decided they would change nothing again: the leader's idle ticks skip them.
   */
  private balanced: TableData | null = null;
  private lastTickAt: number;
  private lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  /** Last sign of life from the leader (for the leader itself: the last tick it held its lease). */
  private lastLeaderContact: number;
  private campaign: Campaign | null = null;
  /** The highest term a voter refusing this place's vote said it follows. */
  private termSeen = 0;
  /**
   * Set when this process finds it was paused: its view may be stale, so it neither leads, takes
   * over, declares anyone dead, nor grants leases, until some member has shown it a table (adopted
   * if newer).
   */
  private verifying = false;
  /** The defect switches of this part (defects.ts), read once. */
  private readonly leaseIgnored: boolean;
  private readonly minorityLease: boolean;
  private readonly takeoverWithoutMajority: boolean;
  private readonly voteWhileLed: boolean;
  /** This place's longest event-loop block lately (ms), as the runtime measured it. */
  private ownLoopBlockMs: number | null = null;
  /** The leader's view of each member's, from their heartbeats. */
  private readonly loopBlocks = new Map<number, number>();
  /** Member: the `ts` of the newest answer its leader renewed its lease with. */
  private lastAnswerTs: number | null = null;
  /**
   * Leader: per member, the oldest heartbeat (its `ts`) it answered that the member has not shown it
   * received, and the member's newest heartbeat since; heard steadily for half a failure timeout, by the
   * member's clock, without a confirmation, the member is cut off one way (`cutOff`).
   */
  private readonly unconfirmed = new Map<number, { ts: number; last: number }>();
  private readonly cutOff = new Set<number>();
  /** Leader: when it last renewed each member's lease (its clock). */
  private readonly grantedAt = new Map<number, number>();
  /** Leader: places each member (or this place) reported it could not replicate to. */
  private readonly unreachable = new Map<number, number[]>();
  /** The lease as the last tick saw it, and since when (for lease_lost and lease_regained events). */
  private leaseSeen = false;
  private leaseSeenSince: number | null = null;

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: Outbox,
    private readonly membership: Membership,
    private readonly replication: Replication,
    private readonly voter: Voter,
  ) {
    this.lease = new Lease(Math.floor(config.failureTimeoutMs / 2));
    this.leaderLease = new LeaderLease(Math.floor(config.failureTimeoutMs / 2));
    const defects = config.defects;
    this.leaseIgnored = defects?.has('lease-ignored') === true;
    this.minorityLease = defects?.has('minority-lease') === true;
    this.takeoverWithoutMajority = defects?.has('takeover-without-majority') === true;
    this.voteWhileLed = defects?.has('vote-while-led') === true;
    this.detector = new FailureDetector(config.failureTimeoutMs);
    this.lastTickAt = clock.now();
    this.lastLeaderContact = clock.now();
  }

  /** True while this place may answer as a primary: it holds a lease and is not re-checking its view. */
  get hasLease(): boolean {
    // The defect: a primary answers whether or not it holds a lease.
    if (this.leaseIgnored) return true;
    if (this.verifying) return false;
    const now = this.clock.now();
    if (this.membership.isLeader()) return this.leaderLeaseUntil() > now;
    return this.lease.heldAt(now);
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
    this.leaderLease.reset();
    this.campaign = null;
  }

  /**
   * When the leader's lease ends (local time): a majority of each voter set it answers to has
   * acknowledged it lately, and it follows no newer term (it granted no vote since).
   */
  private leaderLeaseUntil(): number {
    const me = this.membership.id;
    const committer = this.membership.committer;
    if (me === null || this.voter.term > committer.decided.term) return Number.NEGATIVE_INFINITY;
    // The defect: a leader cut off from the majority goes on as if it still had it.
    if (this.minorityLease) return Number.POSITIVE_INFINITY;
    return this.leaderLease.until(me, committer.voterSets());
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
      this.campaign = null;
      this.unconfirmed.clear();
      this.cutOff.clear();
      this.verifying = this.membership.id !== null && this.membership.otherLiveMembers().length > 0;
    } else if (lateMs > 0) {
      this.detector.credit(lateMs, now);
      this.lastLeaderContact = Math.min(now, this.lastLeaderContact + lateMs);
    }
    this.lastTickAt = now;
  }

  /** Heartbeats, and the leader's or the others' watch. Returns false while this place re-checks its view. */
  tick(now: number): boolean {
    this.reportLease(now);
    // A place re-checking its view still shows it is alive (a busy place must not fall silent and be
    // declared dead for it); its lease stays void until the check is done.
    // A member that finds a peer it cannot replicate to tells the leader at once, not a period later.
    const unreachable = this.membership.isLeader() ? [] : this.replication.unreachablePeers(now);
    const news = unreachable.some((id) => !this.reportedUnreachable.includes(id));
    this.reportedUnreachable = unreachable;
    if (news || now - this.lastHeartbeatAt >= heartbeatMs(this.config) - HEARTBEAT_SLACK_MS)
      this.sendHeartbeats(now, unreachable);
    if (this.verifying) {
      if (this.membership.fetchDue(now)) this.membership.askEveryone();
      return false;
    }
    if (this.membership.isLeader()) this.leaderTick(now);
    else this.watchLeader(now);
    return true;
  }

  /** Reports the lease changing hands since the last tick (a first lease is no news). */
  private reportLease(now: number): void {
    const held = this.hasLease;
    if (held === this.leaseSeen) return;
    if (held && this.leaseSeenSince !== null)
      this.out.event({ event: 'lease_regained', withoutMs: now - this.leaseSeenSince });
    else if (!held) {
      const reason = this.verifying
        ? 'this place was paused and re-checks its view of the cluster'
        : this.membership.isLeader()
          ? 'no majority of the voters acknowledged this leader lately'
          : 'no answer from a leader backed by a majority within the lease';
      this.out.event({ event: 'lease_lost', reason });
    }
    this.leaseSeen = held;
    this.leaseSeenSince = now;
  }

  /** A member heartbeats its leader; the leader heartbeats every other voter (their answers make its lease). */
  private sendHeartbeats(now: number, unreachable: number[]): void {
    const table = this.membership.table!;
    const me = this.membership.id!;
    this.lastHeartbeatAt = now;
    const hb: Heartbeat = { t: 'hb', tv: this.membership.version, term: table.data.term, id: me, ts: now };
    if (this.ownLoopBlockMs !== null) hb.lb = this.ownLoopBlockMs;
    if (!this.membership.isLeader()) {
      const leader = table.leader;
      if (this.lastAnswerTs !== null) hb.la = this.lastAnswerTs;
      if (unreachable.length > 0) hb.ur = unreachable;
      if (leader !== undefined && leader.id !== me) this.out.send(leader.address, hb);
      return;
    }
    hb.lead = true;
    hb.term = this.membership.committer.decided.term;
    for (const v of this.membership.committer.voters()) if (v.id !== me) this.out.send(v.address, hb);
  }

  /** A heartbeat arrived: from a member to this leader, or from a leader to this voter. */
  handleHeartbeat(from: ReplyTo, m: Heartbeat): void {
    if (m.lead === true) this.handleLeaderHeartbeat(from, m);
    else this.handleMemberHeartbeat(from, m);
  }

  /** Voter: acknowledges a leader it may follow, which promises it no vote for a failure timeout. */
  private handleLeaderHeartbeat(from: ReplyTo, m: Heartbeat): void {
    const table = this.membership.table;
    const me = this.membership.id;
    if (table === null || me === null) return;
    if (!this.voter.accepts(m.term)) {
      // A leader of an older term: show it the newest table here.
      this.out.reply(from, { t: 'tableUpdate', tv: this.membership.version, table: table.data });
      return;
    }
    this.voter.follow(m.term, m.id);
    this.voter.ackedLeader(this.clock.now());
    this.leaderHeard();
    this.out.reply(from, { t: 'hbAck', tv: this.membership.version, term: m.term, id: me, ts: m.ts });
    this.membership.committedAt(from, m.term, m.tv);
  }

  /** Leader: answers a member's heartbeat with a lease, unless the member is dead by its view or it holds none itself. */
  private handleMemberHeartbeat(from: ReplyTo, m: Heartbeat): void {
    const table = this.membership.table;
    const me = this.membership.id;
    if (table === null || me === null || this.verifying) return;
    if (!this.membership.isLeader()) {
      // The sender takes this place for its leader: it missed a change; show it the table.
      if (m.term < table.data.term || m.tv < table.version)
        this.out.reply(from, { t: 'tableUpdate', tv: this.membership.version, table: table.data });
      return;
    }
    // Judge by what this place has decided, committed or not: a sender already declared dead, or
    // whose primaries a pending table hands to others (a silent holder of a last copy, demoted), gets
    // no lease until it holds that table.
    const decided = this.membership.committer.decided;
    if (decided.members.find((x) => x.id === m.id)?.state === 'dead' && table.member(m.id)?.state !== 'dead')
      return;
    if (decided !== table.data && primariesTaken(table.data, decided, m.id)) return;
    const sender = table.member(m.id);
    if (sender?.state === 'dead' || m.term < table.data.term) {
      // A place declared dead, or one that missed a leader change: it must see the table to act on it.
      this.out.reply(from, { t: 'tableUpdate', tv: this.membership.version, table: table.data });
      if (sender?.state === 'dead') return;
    }
    const now = this.clock.now();
    this.detector.heard(m.id, now);
    if (m.lb !== undefined) this.loopBlocks.set(m.id, m.lb);
    this.trackAnswers(m);
    // A member whose answers do not arrive is the one cut off: whom it cannot reach says nothing of
    // them (it would have the leader part it from the very places that still hold its partitions).
    if (m.ur !== undefined && !this.cutOff.has(m.id)) this.unreachable.set(m.id, m.ur);
    // A member's lease never outlasts the leader's: what remains of it, less the drift allowed.
    const remainingMs = (this.leaderLeaseUntil() - now) * DRIFT_MARGIN;
    // A member cut off one way gets no more leases: it is declared dead once the last one has run out.
    if (remainingMs > 0 && !this.cutOff.has(m.id)) {
      this.grantedAt.set(m.id, now);
      const ack: HeartbeatAck = {
        t: 'hbAck',
        tv: this.membership.version,
        term: table.data.term,
        id: me,
        ts: m.ts,
        lr: Math.min(remainingMs, this.config.failureTimeoutMs),
      };
      this.out.reply(from, ack);
      if (!this.unconfirmed.has(m.id)) this.unconfirmed.set(m.id, { ts: m.ts, last: m.ts });
    }
    if (m.tv > this.membership.version) this.membership.learnNewerTable();
  }

  /** Leader: does the member receive its answers? (see `unconfirmed`). */
  private trackAnswers(m: Heartbeat): void {
    const waiting = this.unconfirmed.get(m.id);
    if (waiting === undefined) return;
    if (m.la !== undefined && m.la >= waiting.ts) {
      this.unconfirmed.delete(m.id);
      this.cutOff.delete(m.id);
      return;
    }
    // Heartbeats that stopped for a while (a cut both ways, a pause) say nothing about one way: start over.
    if (m.ts - waiting.last > this.config.failureTimeoutMs / 2) {
      this.unconfirmed.delete(m.id);
      return;
    }
    waiting.last = m.ts;
    // Half a failure timeout of heartbeats without answers (a few heartbeat periods): a busy member
    // would not heartbeat either, and answers go on the control connection, never queued behind data.
    if (m.ts - waiting.ts > this.config.failureTimeoutMs / 2) this.cutOff.add(m.id);
  }

  /** An answer to a heartbeat: a voter's to this leader, or the leader's to this member. */
  handleHeartbeatAck(from: ReplyTo, m: HeartbeatAck): void {
    const table = this.membership.table;
    if (table === null) return;
    if (this.membership.isLeader()) {
      const committer = this.membership.committer;
      if (m.term === committer.decided.term) {
        this.leaderLease.acknowledged(m.id, m.ts);
        this.detector.heard(m.id, this.clock.now());
      }
      return;
    }
    // Whatever it renews, the answer arrived: the next heartbeat says so (a cut one way shows as answers that never do).
    this.lastAnswerTs = Math.max(this.lastAnswerTs ?? m.ts, m.ts);
    if (m.term > table.data.term || m.tv > table.version) {
      // The leader judged this place by a newer table: the lease counts once this place holds it
      // (while the leader changes tables often, as in a repair, its answers are always a step ahead).
      if (m.lr !== undefined && (this.aheadAck === null || m.ts > this.aheadAck.ts)) this.aheadAck = m;
      this.out.reply(from, { t: 'tableGet', tv: this.membership.version });
      return;
    }
    this.renewFromAck(m);
  }

  /** Member: renews the lease from the leader's answer, if it answers for the table held here. */
  private renewFromAck(m: HeartbeatAck): void {
    const table = this.membership.table!;
    if (m.term !== table.data.term || m.id !== table.leader?.id || m.lr === undefined) return;
    this.lease.renewFrom(m.ts, m.lr);
    this.leaderHeard();
  }

  /** A newer table was adopted: an answer that waited for it renews the lease now. */
  tableAdopted(): void {
    const m = this.aheadAck;
    const table = this.membership.table;
    if (m === null || table === null || m.tv > table.version || m.term > table.data.term) return;
    this.aheadAck = null;
    if (!this.membership.isLeader()) this.renewFromAck(m);
  }

  /** The leader showed a sign of life. */
  leaderHeard(): void {
    this.lastLeaderContact = this.clock.now();
  }

  /** A new leader or term: the watch starts afresh, and any takeover this place had under way is moot. */
  leaderChanged(): void {
    this.leaderHeard();
    this.campaign = null;
    // Heartbeat the new leader at once: the lease it grants is what lets this place answer again.
    this.lastHeartbeatAt = Number.NEGATIVE_INFINITY;
    this.unconfirmed.clear();
    this.cutOff.clear();
    this.unreachable.clear();
    if (!this.membership.isLeader()) this.leaderLease.reset();
  }

  /** A member showed its table: adopt it if newer. An answer also ends a re-check of this place's view. */
  handleTableReply(msg: TableReply): void {
    const before = this.membership.table?.data;
    // A leader's own term has no tables but those it decided: one shown back becomes current only
    // through the commit, which also tells the places it concerns.
    const own =
      before !== undefined &&
      this.membership.isLeader() &&
      leaderOf(msg.table)?.id === this.membership.id &&
      msg.table.term === before.term;
    if (!own) this.membership.adopt(msg.table);
    if (msg.id === null || before === undefined) return;
    if (this.membership.isLeader()) this.detector.heard(msg.id, this.clock.now());
    this.verifying = false;
  }

  /**
   * Another place says the store is invalid. Only a committed table says so (docs/control-plane.md),
   * so the notice is a hint: this place asks the sender for its table, and an invalid one it adopts
   * (newer, and shared only once committed) makes it invalid too. A notice alone changes nothing.
   */
  handleInvalidNotice(from: ReplyTo, msg: InvalidNotice): void {
    const table = this.membership.table;
    if (table === null || this.invalidReason !== null) return;
    const mine = table.data;
    if (msg.term < mine.term || (msg.term === mine.term && msg.tv < mine.version)) return;
    this.membership.fetchTableFrom(from);
  }

  /**
   * Non-leaders watch the leader. After a failure timeout of silence they ask everyone for news (a
   * newer table shows them what they missed). A voter takes over by a vote: the deputy after one
   * failure timeout, each next voter two heartbeats later.
   */
  private watchLeader(now: number): void {
    const table = this.membership.table!;
    const silentMs = now - this.lastLeaderContact;
    const c = this.campaign;
    // A vote that does not succeed soon is tried again (a voter that refused may have heard the
    // leader a little later than this place did): a pre-vote, which costs nobody anything, after two
    // ticks; a vote after two heartbeats.
    const patienceMs = c?.pre === true ? 2 * this.config.tickMs : 2 * heartbeatMs(this.config);
    if (c !== null && now - c.startedAt > patienceMs) this.campaign = null;
    if (silentMs <= this.config.failureTimeoutMs) return;
    if (this.membership.fetchDue(now)) this.membership.askEveryone();
    // Ranked by the newest table this place stored: a place that table no longer counts among the
    // voters (it may even declare it dead) does not stand.
    const newest = this.membership.newestStored() ?? table.data;
    const rank = votersOf(newest).findIndex((v) => v.id === this.membership.id);
    // The deputy after one failure timeout, each next voter two heartbeats later: a live voter ranked
    // before a candidate refuses it, so the stagger only spares votes that would fail.
    const waitMs = this.config.failureTimeoutMs + (rank - 1) * 2 * heartbeatMs(this.config);
    if (rank < 1 || this.campaign !== null || silentMs <= waitMs) return;
    if (!this.voter.mayGrant(this.voter.term + 1, this.membership.id!, now, this.config.failureTimeoutMs))
      return;
    this.startCampaign(now);
  }

  /** Asks the voters whether they would grant the next term (a pre-vote); the real vote follows. */
  private startCampaign(now: number, pre = true): void {
    const me = this.membership.id!;
    const term = Math.max(this.voter.term, this.membership.table!.data.term, this.termSeen) + 1;
    if (!pre) this.voter.grant(term, me);
    const own = this.membership.newestStored()!;
    this.campaign = {
      pre,
      term,
      startedAt: now,
      granted: new Set([me]),
      asked: new Set([me]),
      tables: [own],
    };
    this.askVoters(this.campaign);
    this.checkCampaign();
  }

  private askVoters(c: Campaign): void {
    for (const t of c.tables) {
      for (const v of votersOf(t)) {
        if (c.asked.has(v.id)) continue;
        c.asked.add(v.id);
        const vote: VoteRequest = {
          t: 'vote',
          tv: this.membership.version,
          term: c.term,
          id: this.membership.id!,
        };
        if (c.pre) vote.pre = true;
        this.out.send(v.address, vote);
      }
    }
  }

  /** Voter: grants a term to a candidate if it has heard no leader for a failure timeout (Voter.ts). */
  handleVote(from: ReplyTo, m: VoteRequest): void {
    const me = this.membership.id;
    const stored = this.membership.newestStored();
    if (me === null || stored === null) return;
    const now = this.clock.now();
    // A voter ranked before the candidate (not the leader) is alive, and the candidate's table would
    // mark it dead: it declines, and takes over itself if the leader is silent.
    const ranks = votersOf(stored).map((v) => v.id);
    const mine = ranks.indexOf(me);
    const outranks = mine > 0 && ranks.indexOf(m.id) > mine;
    // A place that leads by its table grants no vote: a candidate never needs the old leader's (a
    // majority without it is one), and a leader that was only cut off keeps leading after the heal
    // instead of handing a later-ranked candidate a table that declares the live deputy dead.
    const leads = this.membership.isLeader();
    // The defect: a voter grants a term while it still hears its leader.
    const granted =
      !outranks &&
      !leads &&
      this.voter.mayGrant(m.term, m.id, now, this.config.failureTimeoutMs, this.voteWhileLed);
    if (granted && m.pre !== true) {
      this.voter.grant(m.term, m.id);
      if (m.id !== me) this.campaign = null;
      this.leaderHeard();
    }
    const reply: VoteReply = {
      t: 'voteReply',
      tv: this.membership.version,
      term: granted ? m.term : this.voter.term,
      id: me,
      granted,
      table: stored,
    };
    if (m.pre === true) reply.pre = true;
    this.out.reply(from, reply);
  }

  /** Candidate: a voter answered. */
  handleVoteReply(m: VoteReply): void {
    // A refusal names the term the voter follows: the next try asks for a higher one.
    if (!m.granted) this.termSeen = Math.max(this.termSeen, m.term);
    const c = this.campaign;
    if (c === null || m.term !== c.term || !m.granted || (m.pre === true) !== c.pre) return;
    c.granted.add(m.id);
    // A table older than the candidate's own says nothing it does not know (a lagging voter's).
    const own = c.tables[0]!;
    if (
      !isNewer(own, m.table) &&
      !c.tables.some((t) => t.term === m.table.term && t.version === m.table.version)
    ) {
      c.tables.push(m.table);
      this.askVoters(c);
    }
    this.checkCampaign();
  }

  /**
   * Takes over once a majority of the voters of its own table, and of every newer one the votes
   * showed, has granted the term.
   */
  private checkCampaign(): void {
    const c = this.campaign;
    if (c === null) return;
    const won = c.tables.every(
      (t) => votersOf(t).filter((v) => c.granted.has(v.id)).length >= majorityOf(votersOf(t).length),
    );
    // The defect: the candidate acts on its own vote alone.
    if (!won && !this.takeoverWithoutMajority) return;
    this.campaign = null;
    let base = c.tables[0]!;
    for (const t of c.tables) if (isNewer(t, base)) base = t;
    const me = this.membership.id!;
    const voters = votersOf(base);
    const rank = voters.findIndex((v) => v.id === me);
    // The newest table shown does not count this place among its voters (or makes it the leader):
    // it cannot lead from it, so it does not raise the term either; a voter of that table will.
    if (rank < 1) return;
    if (c.pre) {
      this.startCampaign(this.clock.now(), false);
      return;
    }
    // Leader = the live member with the minimum id: every voter ranked before this one is marked dead.
    const before = voters.slice(0, rank).map((v) => v.id);
    const now = this.clock.now();
    this.detector.resetAll(now);
    this.leaderLease.reset();
    this.leaderHeard();
    // The voters' answers to its first heartbeats make its lease: send them now.
    this.lastHeartbeatAt = Number.NEGATIVE_INFINITY;
    this.membership.committer.startTerm(base, planRepair(markDead(newTerm(base, c.term), before)));
  }

  private leaderTick(now: number): void {
    const table = this.membership.table!;
    const me = this.membership.id;
    const watched = table.data.members.filter((m) => m.state !== 'dead' && m.id !== me).map((m) => m.id);
    if (this.termLed !== table.data.term) {
      // The first tick of a term this place won: every lease of the term before has ended
      // (docs/control-plane.md, 1), so a member need not be given a whole failure timeout. The live
      // answer the new table at once; those cut off with the old leader are silent a quarter of one
      // later (more than a heartbeat period).
      this.termLed = table.data.term;
      this.detector.restart(watched, now, this.config.failureTimeoutMs / 4);
    } else this.detector.watch(watched, now);
    const committer = this.membership.committer;
    committer.retry(now, this.config.tableRetryMs);
    if (this.leaderLeaseUntil() <= now) {
      // Without a majority behind it, this place decides nothing (it may be the one cut off); it asks
      // around, and a newer term, if there is one, shows it what happened.
      if (this.membership.fetchDue(now)) this.membership.askEveryone();
      return;
    }
    this.voter.ackedLeader(now);
    this.lastLeaderContact = now;
    const suspects = this.detector.suspects(now);
    const watching = new Set(watched);
    for (const id of this.unconfirmed.keys()) if (!watching.has(id)) this.unconfirmed.delete(id);
    // A member that heartbeats but whose answers do not arrive (cut one way) cannot hold a lease: it
    // gets none from then on, and is as good as silent once the last one it was given has run out
    // (half a failure timeout from the grant, with room for clock drift).
    for (const id of this.cutOff) {
      if (!watching.has(id)) this.cutOff.delete(id);
      else if (
        !suspects.includes(id) &&
        now - (this.grantedAt.get(id) ?? Number.NEGATIVE_INFINITY) > this.config.failureTimeoutMs * 0.6
      )
        suspects.push(id);
    }
    for (const id of this.grantedAt.keys()) if (!watching.has(id)) this.grantedAt.delete(id);
    if (suspects.length > 1 && suspects.length === watched.length) {
      // Everyone silent at once says more about this place than about the others.
      if (this.membership.fetchDue(now)) this.membership.askEveryone();
    } else if (suspects.length > 0) {
      const lost = this.detector.suspects(now, this.config.lostAfterMs);
      committer.change((t) => planRepair(declareSilent(t, suspects, lost), suspects));
      // Once all is repaired, even out the primaries (a spare that took over backups takes primaries too).
    } else if (!this.repairCutLinks(now) && committer.idle && committer.decided !== this.balanced) {
      const base = committer.decided;
      committer.change((t) => pruneDead(planHandovers(t), this.config.maxDeadMembers));
      if (committer.decided === base) this.balanced = base;
    }
  }

  /** Takes reported unreachable places off the reporters' partitions. True when it changed something. */
  private repairCutLinks(now: number): boolean {
    const me = this.membership.id!;
    const own = this.replication.unreachablePeers(now);
    if (own.length > 0) this.unreachable.set(me, own);
    if (this.unreachable.size === 0) return false;
    const committer = this.membership.committer;
    const before = committer.decided;
    for (const [reporter, peers] of this.unreachable)
      for (const peer of peers) committer.change((t) => planRepair(dropUnreachable(t, reporter, peer)));
    this.unreachable.clear();
    return committer.decided !== before;
  }

  /** Marks the store invalid here, for good, and tells every place this one knows. */
  becomeInvalid(reason: string): void {
    if (this.invalidReason !== null) return;
    this.invalidReason = reason;
    this.out.event({ event: 'invalid', reason });
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

/** True when a partition `id` is primary of in `before` has another primary in `after`. */
function primariesTaken(before: TableData, after: TableData, id: number): boolean {
  for (let p = 0; p < before.partitions.length; p++)
    if (before.partitions[p]?.primary === id && after.partitions[p]?.primary !== id) return true;
  return false;
}
