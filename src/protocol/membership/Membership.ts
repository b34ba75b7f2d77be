import { tableEvents } from '../events.js';
import type { Voter } from '../leadership/Voter.js';
import type { Outbox, ReplyTo } from '../Outbox.js';
import type { Clock, PlaceConfig } from '../PlaceConfig.js';
import {
  bootstrapTable,
  formTable,
  isNewer,
  leaderOf,
  type Member,
  nextMemberId,
  PartitionTable,
  type TableData,
} from '../table/PartitionTable.js';
import { markDead, planRepair } from '../table/tableChanges.js';
import { errorReply } from '../wire/errorReply.js';
import { messageBytes } from '../wire/messageBytes.js';
import type {
  ErrorReply,
  JoinRequest,
  PlaceMessage,
  StatusGet,
  TableGet,
  TablePush,
} from '../wire/messages.js';
import { placesToTell, TableCommitter } from './TableCommitter.js';

/** What membership tells the rest of the place when the table it holds changes. */
export interface MembershipHooks {
  /** The table names this place dead: everything it holds is void (called while the table is still set). */
  replaced(): void;
  /** A new leader or term: the leader's silence is counted afresh. */
  leaderChanged(): void;
  /** The adopted table may give this place new roles: apply them. */
  rolesChanged(table: PartitionTable, me: number | null): void;
  /** The adopted table says the store is invalid. */
  tableInvalid(reason: string): void;
  /** Why the store is invalid as this place knows it, or null (shared tables carry it). */
  invalidReason(): string | null;
  /** A message held for a newer table, handed back once one arrived. */
  replay(to: ReplyTo, msg: PlaceMessage): void;
  /** Why this place cannot answer as a primary now (it holds no lease), or null. */
  noQuorum(): string | null;
}

interface Deferred {
  to: ReplyTo;
  msg: PlaceMessage;
  since: number;
  bytes: number;
}

/**
 * Who belongs to the cluster and which table holds: joining (and rejoining as a spare once declared
 * dead), adopting newer tables, the leader's admission of joiners and its table commits through the
 * deputy (TableCommitter), the deputy's side of those pushes, and messages held until the newer
 * table they need has arrived.
 */
export class Membership {
  private myId: number | null = null;
  private current: PartitionTable | null = null;
  private joinAttempt = 0;
  private lastJoinSentAt = Number.NEGATIVE_INFINITY;
  private joinSeeds: string[];
  private joinAsSpare: boolean;
  private deferred: Deferred[] = [];
  /** Bytes the deferred messages hold (about; see messageBytes). */
  private deferredBytes = 0;
  private lastTableFetchAt = Number.NEGATIVE_INFINITY;
  /** As a voter: the newest table a leader pushed here, committed or not (current once committed). */
  private accepted: TableData | null = null;
  /** The leader's way of changing the table: through a majority of voters. */
  readonly committer: TableCommitter;

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
    private readonly out: Outbox,
    private readonly hooks: MembershipHooks,
    private readonly voter: Voter,
  ) {
    this.joinSeeds = config.seeds;
    this.joinAsSpare = config.spare;
    const membership = this;
    this.committer = new TableCommitter(
      {
        get myId() {
          return membership.myId;
        },
        get committed() {
          return membership.table!.data;
        },
        now: () => clock.now(),
        sendTo: (address, msg) => out.send(address, msg),
        install: (before, t) => this.install(before, t),
      },
      config.defects,
    );
  }

  /** This place's id, once it has joined. */
  get id(): number | null {
    return this.myId;
  }

  /** The newest table this place has adopted, or null while it joins. */
  get table(): PartitionTable | null {
    return this.current;
  }

  /** The version of that table (0 before any). */
  get version(): number {
    return this.current?.version ?? 0;
  }

  /** Bootstraps a cluster (no seeds); joining ones start on the first tick. */
  start(): void {
    if (this.config.seeds.length > 0) return;
    const me: Member = {
      id: 0,
      address: this.config.address,
      zone: this.config.zone,
      pid: this.config.pid,
      state: this.config.spare ? 'spare' : 'active',
    };
    if (this.config.httpAddress != null) me.http = this.config.httpAddress;
    if (this.config.respAddress != null) me.resp = this.config.respAddress;
    this.adopt(bootstrapTable(me, this.config.partitionCount, this.config.minPlaces, this.config.voters));
  }

  /** Until joined: asks the next seed, once per retry period. */
  tickJoin(now: number): void {
    if (this.joinSeeds.length > 0 && now - this.lastJoinSentAt >= this.config.joinRetryMs) {
      const seed = this.joinSeeds[this.joinAttempt++ % this.joinSeeds.length];
      if (seed !== undefined) this.sendJoin(seed);
    }
  }

  /** True when this place leads, by the newest table it has decided on or adopted. */
  isLeader(): boolean {
    if (this.current === null || this.myId === null) return false;
    return leaderOf(this.committer.decided)?.id === this.myId;
  }

  /** Live members other than this place, by the newest table it has. */
  otherLiveMembers(): Member[] {
    return (this.current?.data.members ?? []).filter((m) => m.state !== 'dead' && m.id !== this.myId);
  }

  /** The table to hand to others: marked invalid when this place knows the store is. */
  tableToShare(): TableData {
    const data = this.current!.data;
    const reason = this.hooks.invalidReason();
    return reason === null || !data.valid ? data : { ...data, valid: false, invalidReason: reason };
  }

  /** Asks every other live member for its table (answers arrive as 'table' messages). */
  askEveryone(): void {
    this.lastTableFetchAt = this.clock.now();
    for (const m of this.otherLiveMembers()) this.out.send(m.address, { t: 'tableGet', tv: this.version });
  }

  /** True when no table fetch went out within the retry period. */
  fetchDue(now: number): boolean {
    return now - this.lastTableFetchAt >= this.config.tableRetryMs;
  }

  /** Lazy propagation: a sender knows a newer table, so fetch it from the leader (rate-limited). */
  learnNewerTable(): void {
    if (!this.fetchDue(this.clock.now())) return;
    const leader = this.current?.leader;
    if (leader && leader.id !== this.myId) this.fetchTable(leader.address);
  }

  /** Asks the sender of a message for its table, unless a fetch went out within the retry period. */
  fetchTableFrom(to: ReplyTo): boolean {
    const now = this.clock.now();
    if (!this.fetchDue(now)) return false;
    this.lastTableFetchAt = now;
    this.out.reply(to, { t: 'tableGet', tv: this.version });
    return true;
  }

  /** Asks the place at address for its table. */
  fetchTable(address: string): void {
    this.lastTableFetchAt = this.clock.now();
    this.out.send(address, { t: 'tableGet', tv: this.version });
  }

  /** Holds a message that needs a newer table than this place has, and fetches that table. */
  defer(to: ReplyTo, msg: PlaceMessage, fetchVia: ReplyTo | null): void {
    const bytes = messageBytes(msg);
    if (
      this.deferred.length >= this.config.maxDeferred ||
      this.deferredBytes + bytes > this.config.maxDeferredBytes
    ) {
      this.replyError(to, msg, 'unavailable', 'this place is catching up with the partition table; retry');
      return;
    }
    this.deferred.push({ to, msg, since: this.clock.now(), bytes });
    this.deferredBytes += bytes;
    if (fetchVia !== null && this.fetchTableFrom(fetchVia)) return;
    this.learnNewerTable();
  }

  /** Answers held messages that waited too long. */
  expireDeferred(now: number): void {
    if (this.deferred.length === 0) return;
    const expireBefore = now - this.config.failureTimeoutMs * 2;
    for (let d = this.deferred[0]; d !== undefined && d.since < expireBefore; d = this.deferred[0]) {
      this.deferred.shift();
      this.deferredBytes -= d.bytes;
      this.replyError(d.to, d.msg, 'unavailable', 'timed out waiting for a newer partition table');
    }
    if (this.deferred.length > 0) this.learnNewerTable();
  }

  /** Installs a newer table: takes this place's id from it, sets roles, replays deferred messages. */
  adopt(data: TableData): void {
    const previous = this.current?.data;
    if (previous !== undefined && !isNewer(data, previous)) return;

    const table = new PartitionTable(data);
    this.current = table;
    // A committed table of term t: its leader is the one to follow in t.
    this.voter.follow(data.term, leaderOf(data)?.id);
    if (this.myId === null) {
      const me = table.memberAt(this.config.address);
      if (me !== undefined && me.state !== 'dead' && me.pid === this.config.pid) this.myId = me.id;
    }
    const me = this.myId;
    // Declared dead, or dead long enough to be pruned from the list: it joins again as a spare.
    if (me !== null && (table.member(me) === undefined || table.member(me)?.state === 'dead')) {
      this.rejoinAsSpare(data);
      return;
    }
    if (
      previous === undefined ||
      previous.term !== data.term ||
      leaderOf(previous)?.id !== leaderOf(data)?.id
    ) {
      this.hooks.leaderChanged();
    }
    for (const m of data.members)
      if (m.state === 'dead' && previous?.members.find((x) => x.id === m.id)?.state !== 'dead') {
        this.out.disconnect(m.address);
      }
    this.hooks.rolesChanged(table, me);
    if (!data.valid) this.hooks.tableInvalid(data.invalidReason ?? 'invalid');
    if (this.deferred.length > 0) {
      const replay = this.deferred;
      this.deferred = [];
      this.deferredBytes = 0;
      for (const d of replay) this.hooks.replay(d.to, d.msg);
    }
  }

  /** This place was declared dead (it was paused or cut off): it forgets everything and joins anew as a spare. */
  private rejoinAsSpare(data: TableData): void {
    this.hooks.replaced();
    this.myId = null;
    this.current = null;
    this.accepted = null;
    this.committer.reset();
    this.joinAsSpare = true;
    this.joinSeeds = data.members.filter((m) => m.state !== 'dead').map((m) => m.address);
    this.lastJoinSentAt = Number.NEGATIVE_INFINITY;
  }

  /** Committer: makes a table current here, then tells the places that must hear of it. */
  private install(before: TableData, t: TableData): void {
    this.adopt(t);
    const me = this.myId!;
    if (t.term !== before.term) {
      // The takeover happened: a majority stored this term's first table.
      const replaced = before.members
        .filter(
          (m) => m.id < me && m.state !== 'dead' && t.members.find((x) => x.id === m.id)?.state === 'dead',
        )
        .map((m) => m.id);
      this.out.event({ event: 'takeover', term: t.term, leader: me, replaced });
    }
    for (const e of tableEvents(before, t, me)) this.out.event(e);
    for (const m of placesToTell(before, t, this.myId)) {
      this.out.send(m.address, { t: 'tableUpdate', tv: t.version, table: t });
    }
    if (!t.valid) this.hooks.tableInvalid(t.invalidReason ?? 'invalid');
  }

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
    if (this.config.httpAddress != null) join.http = this.config.httpAddress;
    if (this.config.respAddress != null) join.resp = this.config.respAddress;
    this.out.send(address, join);
  }

  /** An error from a place: while joining, a redirect names the leader to ask instead. */
  handlePeerError(m: ErrorReply): void {
    if (this.myId === null && m.code === 'redirect' && m.to !== undefined) this.sendJoin(m.to);
  }

  /** Leader: admits a new place (as a spare once the cluster has formed). */
  handleJoin(from: ReplyTo, m: JoinRequest): void {
    if (!this.answeredAsLeader(from, m)) return;
    const base = this.committer.decided;
    const existing = new PartitionTable(base).memberAt(m.address);
    if (existing !== undefined && existing.state !== 'dead') {
      if (existing.pid === m.pid) {
        this.committer.whenCommitted(base.version, () =>
          this.out.reply(from, { t: 'joined', tv: this.version, id: existing.id, table: this.current!.data }),
        );
        return;
      }
      // A new process at the address of a live member: the old one is gone.
      this.committer.change((t) => planRepair(markDead(t, [existing.id])));
    }
    const id = nextMemberId(base);
    this.committer.change(
      (t) => {
        const joiner: Member = {
          id,
          address: m.address,
          zone: m.zone,
          pid: m.pid,
          // Scale-out with live rebalancing comes later: a place joining a formed cluster waits as a spare.
          state: m.spare === true || t.formed ? 'spare' : 'active',
        };
        if (m.http !== undefined) joiner.http = m.http;
        if (m.resp !== undefined) joiner.resp = m.resp;
        let next: TableData = { ...t, version: t.version + 1, members: [...t.members, joiner] };
        const active = next.members.filter((x) => x.state === 'active').length;
        if (!next.formed && active >= next.minPlaces) next = formTable(next);
        return planRepair(next);
      },
      () => this.out.reply(from, { t: 'joined', tv: this.version, id, table: this.current!.data }),
    );
  }

  /** True when a table this place stored or decided, newer than its own, lists a member at address. */
  knowsNewerMember(address: string): boolean {
    const listed = (t: TableData | null) => t?.members.some((m) => m.address === address) === true;
    return listed(this.accepted) || listed(this.committer.decided);
  }

  /** The newest table this place has stored: the one it holds, or a newer one pushed to it as a voter. */
  newestStored(): TableData | null {
    const current = this.current?.data ?? null;
    if (this.accepted === null || (current !== null && !isNewer(this.accepted, current))) return current;
    return this.accepted;
  }

  /**
   * Voter: stores a table a leader pushed, unless it comes from a leader of an older term than this
   * place follows (shown the newer table instead). Returns this place's id in the table when stored
   * (to acknowledge with; a place still joining learns it here), else null.
   */
  handleTablePush(from: ReplyTo, msg: TablePush): number | null {
    const t = msg.table;
    const leader = leaderOf(t)?.id;
    const mine = this.current?.data;
    if (!this.voter.accepts(t.term) || (mine !== undefined && isNewer(mine, t))) {
      if (mine !== undefined) this.out.reply(from, { t: 'tableUpdate', tv: this.version, table: mine });
      return null;
    }
    // A voter stores even a table that declares it dead (a takeover's first table marks the old
    // leader dead, and may need its vote): once committed, it makes this place rejoin as a spare.
    const me = new PartitionTable(t).memberAt(this.config.address);
    if (me === undefined || me.pid !== this.config.pid) return null;
    if (this.myId !== null && me.id !== this.myId) return null;
    this.voter.follow(t.term, leader);
    if (this.accepted === null || isNewer(t, this.accepted)) this.accepted = t;
    return me.id;
  }

  /**
   * Voter: the leader says its committed table is (term, version). The table stored here under that
   * name becomes current; if this place has none, it fetches the leader's.
   */
  committedAt(from: ReplyTo, term: number, version: number): void {
    const a = this.accepted;
    if (a !== null && a.term === term && a.version === version) {
      this.adopt(a);
      return;
    }
    const mine = this.current?.data;
    const named = { term, version };
    if (
      mine === undefined ||
      named.term > mine.term ||
      (named.term === mine.term && version > mine.version)
    ) {
      if (this.fetchDue(this.clock.now())) {
        this.lastTableFetchAt = this.clock.now();
        this.out.reply(from, { t: 'tableGet', tv: this.version });
      }
    }
  }

  /** Answers a table request with this place's table. */
  handleTableGet(from: ReplyTo, msg: TableGet): void {
    const current = this.current;
    if (current === null) {
      this.replyError(from, msg, 'unavailable', 'this place has not joined a cluster yet');
      return;
    }
    const asked = msg.term === undefined ? null : { term: msg.term, version: msg.tv };
    const share = this.tableToShare();
    const nq = this.hooks.noQuorum();
    if (asked !== null && share === current.data && !isNewer(current.data, { ...current.data, ...asked }))
      this.out.reply(
        from,
        nq === null ? { t: 'tableSame', tv: this.version } : { t: 'tableSame', tv: this.version, nq },
      );
    else if (nq === null) this.out.reply(from, { t: 'table', tv: this.version, id: this.myId, table: share });
    else this.out.reply(from, { t: 'table', tv: this.version, id: this.myId, table: share, nq });
  }

  /** True when this place is the leader; otherwise answers with a redirect to the leader (or why not). */
  answeredAsLeader(from: ReplyTo, msg: JoinRequest | StatusGet): boolean {
    const leader = this.current?.leader;
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
    if ('id' in msg && msg.id !== undefined) err.id = msg.id;
    this.out.reply(from, err);
    return false;
  }

  private replyError(to: ReplyTo, msg: PlaceMessage, code: ErrorReply['code'], text: string): void {
    this.out.reply(to, errorReply(this.version, code, text, msg));
  }
}
