import { type CopyState, PartitionCopies } from './copy/PartitionCopies.js';
import { Leadership } from './leadership/Leadership.js';
import { Voter } from './leadership/Voter.js';
import { Membership } from './membership/Membership.js';
import { Outbox, type OutputSink, type ReplyTo } from './Outbox.js';
import type { Clock, PlaceConfig } from './PlaceConfig.js';
import type { PartitionReplica } from './replication/PartitionReplica.js';
import { Replication } from './replication/Replication.js';
import { Requests } from './requests/Requests.js';
import { clusterStatus } from './status.js';
import type { TableData } from './table/PartitionTable.js';
import { errorReply } from './wire/errorReply.js';
import type { ClusterStatus, PlaceMessage, StatusGet } from './wire/messages.js';

/**
 * One place, as a state machine free of I/O (in the shape of etcd's raft): fed decoded messages
 * (step) and timer ticks (tick), it appends what to send to its Outbox, which the runtime drains
 * (drain) once a batch of input is handled. It routes each message to the part that owns it:
 * - membership/: joining, the table and its commits through a majority of voters, held messages;
 * - leadership/: heartbeats, leases, failure detection, votes and takeover, the invalid verdict;
 * - replication/: the primary's write path, the backup's apply, resends, fencing;
 * - copy/: whole-partition copies and primary handovers;
 * - requests/: client operations at the primary;
 * - status.ts: the cluster as `status --json` shows it.
 */
export class Place {
  private readonly out = new Outbox();
  private readonly membership: Membership;
  private readonly leadership: Leadership;
  private readonly replication: Replication;
  private readonly copies: PartitionCopies;
  private readonly requests: Requests;

  constructor(
    private readonly config: PlaceConfig,
    private readonly clock: Clock,
  ) {
    const voter = new Voter();
    this.membership = new Membership(
      config,
      clock,
      this.out,
      {
        replaced: () => {
          this.replication.dropAll();
          this.leadership.revokeLease();
        },
        leaderChanged: () => this.leadership.leaderChanged(),
        rolesChanged: (table, me) => {
          this.replication.applyRoles(table, me);
          this.leadership.tableAdopted();
        },
        tableInvalid: (reason) => this.leadership.becomeInvalid(reason),
        invalidReason: () => this.leadership.invalid,
        replay: (to, msg) => this.step(to, msg),
        noQuorum: () =>
          this.leadership.hasLease
            ? null
            : `place ${this.membership.id} holds no lease from a leader backed by a majority of voters`,
      },
      voter,
    );
    this.copies = new PartitionCopies(config, clock, this.out, this.membership, (p) =>
      this.replication.replica(p),
    );
    this.replication = new Replication(config, clock, this.out, this.membership, this.copies);
    this.leadership = new Leadership(config, clock, this.out, this.membership, this.replication, voter);
    this.requests = new Requests(
      config,
      this.out,
      this.membership,
      this.leadership,
      this.replication,
      this.copies,
    );
  }

  /** This place's id, once it has joined. */
  get id(): number | null {
    return this.membership.id;
  }

  /** The newest table this place knows. */
  get tableData(): TableData | null {
    return this.membership.table?.data ?? null;
  }

  /** The newest table this place has stored: its own, or a newer one pushed to it as a voter (tests, simulator). */
  get storedTable(): TableData | null {
    return this.membership.newestStored();
  }

  /** True while this place may answer as a primary: it holds a lease and is not re-checking its view. */
  get hasLease(): boolean {
    return this.leadership.hasLease;
  }

  /** Why the store is invalid, as this place knows it, or null. */
  get invalid(): string | null {
    return this.leadership.invalid;
  }

  /**
   * True when a place at address may speak the places' protocol to this one: its table lists the
   * address (in any state: a place declared dead must still hear so), or this place has no table yet.
   */
  knowsAddress(address: string): boolean {
    const t = this.membership.table;
    return t === null || t.lists(address) || this.membership.knowsNewerMember(address);
  }

  /** Read access to a partition's replica (created when the first table arrives), for tests and status. */
  replica(partition: number): PartitionReplica | undefined {
    return this.replication.replica(partition);
  }

  /** The copy or handover a partition is in here (as its primary), for tests and the simulator. */
  copyState(partition: number): CopyState {
    return this.copies.state(partition);
  }

  /** Number of items waiting in the outbox (tests). */
  get pendingOutput(): number {
    return this.out.size;
  }

  /** The runtime measured this place's longest event-loop block lately (ms); heartbeats carry it to the leader. */
  observeLoopBlock(ms: number): void {
    this.leadership.observeLoopBlock(ms);
  }

  /** Bootstraps a cluster (no seeds) or starts joining one. */
  start(): void {
    this.membership.start();
    if (this.config.seeds.length > 0) this.tick();
  }

  /** Drives timers: joins, heartbeats, failure detection, takeover, table pushes, resends, copy reports. */
  tick(): void {
    const now = this.clock.now();
    this.leadership.noticePause(now);
    if (this.membership.id === null) {
      this.membership.tickJoin(now);
      return;
    }
    this.membership.expireDeferred(now);
    if (this.leadership.invalid !== null || this.membership.table === null) return;
    if (!this.leadership.tick(now)) return;
    this.replication.tick(now);
  }

  /**
   * The connection to address broke, and what was queued on it may be lost: entries the backup there
   * has not acknowledged go again, and copies to it that had not caught up restart.
   */
  connectionLost(address: string): void {
    this.replication.connectionLost(address);
  }

  /**
   * Hands everything this place decided to send to sink, in order: first what the turn coalesced
   * (each backup's entries as one batch, acknowledgements per connection as one message).
   */
  drain(sink: OutputSink): void {
    this.replication.flush();
    this.out.drain(sink);
  }

  /** Handles one decoded message that arrived over the connection `from`. */
  step(from: ReplyTo, msg: PlaceMessage): void {
    switch (msg.t) {
      case 'op':
        this.requests.handleOp(from, msg);
        return;
      case 'repl':
        this.replication.handleReplicate(from, msg);
        return;
      case 'replBatch':
        this.replication.handleReplicateBatch(from, msg);
        return;
      case 'replAcks':
        this.replication.handleReplicateAcks(msg);
        return;
      case 'replReject':
        this.replication.handleReplicateReject(msg);
        return;
      case 'snap':
        this.replication.handleSnapshot(from, msg);
        return;
      case 'snapAck':
        this.copies.handleSnapshotAck(this.replication.replica(msg.p), msg);
        return;
      case 'copied':
        this.copies.handleCopied(msg);
        return;
      case 'handedOver':
        this.copies.handleHandedOver(msg);
        return;
      case 'hb':
        this.leadership.handleHeartbeat(from, msg);
        return;
      case 'hbAck':
        this.leadership.handleHeartbeatAck(from, msg);
        return;
      case 'join':
        this.membership.handleJoin(from, msg);
        return;
      case 'table':
        this.leadership.handleTableReply(msg);
        return;
      case 'joined':
      case 'tableUpdate':
        this.membership.adopt(msg.table);
        return;
      case 'tablePush': {
        const id = this.membership.handleTablePush(from, msg);
        if (id !== null) {
          this.leadership.leaderHeard();
          this.out.reply(from, { t: 'tableAck', tv: msg.table.version, term: msg.table.term, id });
        }
        return;
      }
      case 'tableAck':
        this.membership.committer.acknowledged(msg.id, msg.term, msg.tv);
        return;
      case 'vote':
        this.leadership.handleVote(from, msg);
        return;
      case 'voteReply':
        this.leadership.handleVoteReply(msg);
        return;
      case 'tableGet':
        this.membership.handleTableGet(from, msg);
        return;
      case 'invalid':
        this.leadership.handleInvalidNotice(from, msg);
        return;
      case 'status':
        this.handleStatus(from, msg);
        return;
      case 'err':
        this.membership.handlePeerError(msg);
        return;
      case 'events':
        // The runtime keeps the events and answers these itself (PlaceNode).
        return;
    }
  }

  private handleStatus(from: ReplyTo, msg: StatusGet): void {
    // An invalid place answers for itself: the leader may be the one that is gone.
    if (this.invalid === null && !this.membership.answeredAsLeader(from, msg)) return;
    if (this.membership.table === null) {
      const why = 'this place has not joined a cluster yet';
      this.out.reply(from, errorReply(this.membership.version, 'unavailable', why, msg));
      return;
    }
    this.out.reply(from, {
      t: 'statusReply',
      id: msg.id,
      tv: this.membership.version,
      status: this.status(),
    });
  }

  /** The cluster as this place (the leader) sees it, in the shape of `status --json`. */
  status(): ClusterStatus {
    return clusterStatus(
      this.membership.table!,
      this.invalid,
      this.config.failureTimeoutMs,
      this.leadership.loopBlockMs(),
    );
  }
}
