import type { TableData } from '../table/PartitionTable.js';

/**
 * The messages places and clients exchange. Each is a plain object tagged with its type `t`, sent as
 * one MessagePack frame; field names are short because they travel with every message. This file is
 * the one place the wire names are defined: decode.ts checks raw frames against these shapes.
 */

/** A message as it comes off the wire, before it is checked: a tag and any fields. */
export type WireMessage = { t: string } & Record<string, unknown>;

/** Anything sent: an object tagged with its type (a typed message, or a raw one). */
export type Tagged = { t: string } | WireMessage;

/** Operations a client can ask of a key's primary. */
export type OpCode = 'get' | 'put' | 'cas' | 'del' | 'submit';

/** A client request. Values travel as MessagePack bytes the place stores without decoding. */
export interface OpRequest {
  t: 'op';
  /** Request number, unique per client; with `c` it identifies a write for exactly-once retries. */
  id: number;
  /** Client id. */
  c: string;
  /** The client's lowest request id still in flight on this partition: it never retries a lower one. */
  lo?: number;
  /** 1 on a write sent before (a retry): with no session of its client, its outcome cannot be told. */
  r?: 1;
  /** Sender's table version. */
  tv: number;
  o: OpCode;
  k: string;
  /** New value (put, cas; null in cas means delete). */
  v?: Uint8Array | null;
  /** Expected value of cas; null means "absent". */
  x?: Uint8Array | null;
  /** Processor name (submit). */
  p?: string;
  /** Processor argument, MessagePack bytes (submit). */
  a?: Uint8Array;
}

/** Success reply to an OpRequest. */
export interface OpResult {
  t: 'res';
  id: number;
  tv: number;
  /** get: null when the key is absent. */
  v?: Uint8Array | null;
  /** get: the value itself, written into the reply as the MessagePack it is stored as. */
  u?: unknown;
  /** cas: whether it swapped. */
  ok?: boolean;
  /** submit: the processor's result as MessagePack bytes. */
  r?: Uint8Array;
}

/** Error codes a place answers with. */
export type ErrorCode =
  | 'redirect'
  | 'unavailable'
  | 'invalid'
  | 'bad_request'
  | 'too_large'
  | 'unknown_command'
  | 'unknown_processor'
  | 'processor_failed'
  | 'bad_frame'
  | 'frame_too_large'
  | 'bad_message'
  | 'busy'
  | 'outcome_unknown'
  /** The peer did not prove who it is: no TLS, no certificate of the CA, no or a wrong password. */
  | 'unauthenticated'
  /** The peer is known but its role does not allow the request. */
  | 'unauthorized';

/** Error reply; `table` is attached to redirects when the place knows a newer table than the sender. */
export interface ErrorReply {
  t: 'err';
  id?: number;
  tv?: number;
  code: ErrorCode;
  msg: string;
  /** Address that should be asked instead. */
  to?: string;
  table?: TableData;
}

/** Fields of one entry in a ReplicateBatch, flattened: p, e, s, k, v, c, i, lo, out. */
export const BATCH_ENTRY_FIELDS = 9;

/** The entries a primary produced for one backup in one turn, flattened (one frame instead of many). */
export interface ReplicateBatch {
  t: 'replBatch';
  tv: number;
  es: unknown[];
}

/** A backup's acknowledgements of one turn, flattened as (partition, epoch, highest seq applied in order) triples. */
export interface ReplicateAcks {
  t: 'replAcks';
  tv: number;
  id: number;
  as: number[];
}

/** One ordered update of a partition, sent by its primary to its backup. */
export interface ReplicateEntry {
  t: 'repl';
  tv: number;
  p: number;
  e: number;
  s: number;
  k: string;
  /** New value bytes; null deletes the key. */
  v: Uint8Array | null;
  /** The client request (client id, request id) for exactly-once retries, and its outcome. */
  c?: string;
  i?: number;
  /** The client's lowest request id still in flight: outcomes of lower ones can be forgotten. */
  lo?: number;
  out?: Outcome;
}

/** The part of a reply that a retried write gets back unchanged. */
export interface Outcome {
  ok?: boolean;
  r?: Uint8Array;
}

/** Backup to primary: replication from an older epoch, refused. */
export interface ReplicateReject {
  t: 'replReject';
  tv: number;
  p: number;
  /** The backup's epoch, newer than the sender's. */
  e: number;
  msg: string;
}

/** A new place asks the leader to be admitted. */
export interface JoinRequest {
  t: 'join';
  tv: number;
  address: string;
  zone: string | null;
  spare?: boolean;
  pid: number;
  /** Where the joining place serves HTTP, when it does. */
  http?: string;
  /** Where the joining place serves RESP (the Redis door), when it does. */
  resp?: string;
}

/** Leader to a joining place: its id and the table that holds it. */
export interface JoinAccepted {
  t: 'joined';
  tv: number;
  id: number;
  table: TableData;
}

/** Leader to each voter: a table to store; the leader acts on it once a majority of voters stored it. */
export interface TablePush {
  t: 'tablePush';
  tv: number;
  table: TableData;
}

/** Voter to leader: the pushed table of version `tv` and term `term` is stored. */
export interface TableAck {
  t: 'tableAck';
  tv: number;
  term: number;
  /** The voter's id. */
  id: number;
}

/**
 * A candidate asks a voter for term `term` (phase 1 of Paxos): granted, the voter acknowledges no
 * leader of an older term from then on, and shows the newest table it has stored.
 */
export interface VoteRequest {
  t: 'vote';
  tv: number;
  term: number;
  /** The candidate's id. */
  id: number;
  /** A pre-vote: "would you grant it?", which changes nothing at the voter (Raft's PreVote). */
  pre?: boolean;
}

/** A voter's answer to a VoteRequest. */
export interface VoteReply {
  t: 'voteReply';
  tv: number;
  /** The term asked for when granted, else the highest term the voter has promised. */
  term: number;
  /** The voter's id. */
  id: number;
  granted: boolean;
  /** Answers a pre-vote. */
  pre?: boolean;
  /** The newest table the voter has stored (committed or only accepted). */
  table: TableData;
}

/** A table a place should adopt if it is newer than its own. */
export interface TableUpdate {
  t: 'tableUpdate';
  tv: number;
  table: TableData;
}

/**
 * Asks for the receiver's table (answered with TableReply). A client gives the term of the table it
 * has: when the receiver's is no newer, the answer is a short TableSame instead of the whole table
 * (thousands of clients refreshing at once must not cost thousands of tables).
 */
export interface TableGet {
  t: 'tableGet';
  tv: number;
  term?: number;
}

/** The asker's table is as new as the receiver's. */
export interface TableSame {
  t: 'tableSame';
  tv: number;
  /** Set when the receiver holds no lease: why it cannot answer as a primary ("no quorum"). */
  nq?: string;
}

/** The receiver's table, with its id. */
export interface TableReply {
  t: 'table';
  tv: number;
  /** The answering place's id (null while it is joining). */
  id: number | null;
  table: TableData;
  /** Set when the answering place holds no lease: why it cannot answer as a primary ("no quorum"). */
  nq?: string;
}

/**
 * Sign of life, sent every heartbeat interval: every member to the leader, and the leader to every
 * other voter (`lead`), whose answers make its lease. The leader's `tv` and `term` name its committed table.
 */
export interface Heartbeat {
  t: 'hb';
  tv: number;
  term: number;
  id: number;
  /** Sender's clock when sent; echoed back, it dates the lease the answer grants. */
  ts: number;
  /** Set when the leader sends it to a voter. */
  lead?: boolean;
  /** Member: the `ts` of the newest answer it got from the leader (so the leader sees its answers arrive). */
  la?: number;
  /** Member: places it could not replicate to for a failure timeout (a cut link between them). */
  ur?: number[];
  /** The sender's longest event-loop block lately, in ms (for status). */
  lb?: number;
}

/**
 * Answer to a heartbeat. From the leader to a member: renews the member's lease from `ts`, for `lr`
 * ms at most (what remains of the leader's own lease). From a voter to the leader: a promise to
 * vote for no other leader for a failure timeout.
 */
export interface HeartbeatAck {
  t: 'hbAck';
  tv: number;
  term: number;
  id: number;
  ts: number;
  /** Leader to member: the longest the member's lease may run from `ts`, in ms. */
  lr?: number;
}

/** One chunk of a whole-partition copy, from the partition's primary to the copy's target. */
export interface SnapshotChunk {
  t: 'snap';
  tv: number;
  p: number;
  e: number;
  /** The sequence number the snapshot is complete at. */
  s: number;
  /** The sending primary's id. */
  from: number;
  /** Piece number, from 0; the last piece completes the snapshot. */
  i: number;
  last: boolean;
  /** Which attempt of the copy (a copy started again is a new attempt): pieces of another are ignored. */
  g: number;
  /** Keys and values, flattened: [key, value, key, value, ...]. */
  kv: (string | Uint8Array)[];
  /** Remembered results, flattened: [client, request id, outcome, ...]. */
  rs: (string | number | Outcome)[];
  /** Sessions' bounds, flattened: [client, lo, highest id whose outcome was dropped, ...] (last piece). */
  sw?: (string | number)[];
  /** True when whole sessions were dropped from the partition (last piece). */
  sd?: boolean;
}

/** Target to primary: piece `i` of attempt `g` of a copy arrived (the last one: the snapshot is whole). */
export interface SnapshotAck {
  t: 'snapAck';
  tv: number;
  p: number;
  e: number;
  i: number;
  g: number;
  id: number;
}

/**
 * Primary to leader: the copy of a partition to `to` is complete and in sync. Sent again until the
 * table shows it, and then also through the target (`relay`), which passes it on to its leader once.
 */
export interface CopyComplete {
  t: 'copied';
  tv: number;
  p: number;
  to: number;
  e: number;
  relay?: boolean;
}

/** Primary to leader: its backup holds every write it answered; the roles may swap. */
export interface HandoverReady {
  t: 'handedOver';
  tv: number;
  p: number;
  from: number;
  e: number;
}

/** The store is invalid: every place that hears it fails every request from then on. */
export interface InvalidNotice {
  t: 'invalid';
  tv: number;
  term: number;
  reason: string;
}

/** Asks the leader (or an invalid place) for the cluster's status. */
export interface StatusGet {
  t: 'status';
  tv: number;
  id?: number;
}

/** The answer to StatusGet. */
export interface StatusReply {
  t: 'statusReply';
  id?: number;
  tv: number;
  status: ClusterStatus;
}

/**
 * Asks one place for the events it kept (events.ts) with a sequence number of `since` or more; the
 * runtime, which keeps them, answers with EventsReply.
 */
export interface EventsGet {
  t: 'events';
  tv: number;
  id?: number;
  since: number;
}

/** The answer to EventsGet: the kept events from `since` on (oldest first), and the next number to ask for. */
export interface EventsReply {
  t: 'eventsReply';
  id?: number;
  events: object[];
  next: number;
}

/** Every message a place acts on, once decoded: narrow on `t`. */
export type PlaceMessage =
  | OpRequest
  | ReplicateEntry
  | ReplicateBatch
  | ReplicateAcks
  | ReplicateReject
  | SnapshotChunk
  | SnapshotAck
  | CopyComplete
  | HandoverReady
  | Heartbeat
  | HeartbeatAck
  | JoinRequest
  | JoinAccepted
  | TablePush
  | TableAck
  | TableUpdate
  | TableGet
  | TableReply
  | VoteRequest
  | VoteReply
  | InvalidNotice
  | StatusGet
  | EventsGet
  | ErrorReply;

/** Every message a place sends. */
export type PlaceOutMessage = PlaceMessage | OpResult | StatusReply | TableSame;

/**
 * Messages that decide who is alive and which table holds. They travel on a connection of their own
 * (the control lane), so they are never stuck behind client work or bulk copies; everything else
 * (replication, copies) is data.
 */
const CONTROL: ReadonlySet<string> = new Set<PlaceOutMessage['t']>([
  'hb',
  'hbAck',
  'tablePush',
  'tableAck',
  'vote',
  'voteReply',
  'tableUpdate',
  'tableGet',
  'table',
  'invalid',
  'join',
  'joined',
  'copied',
  'handedOver',
]);

/**
 * What a client may send: operations, table and status requests. Everything else is the places'
 * protocol, taken only over connections a place dialled.
 */
const CLIENT_REQUESTS: ReadonlySet<string> = new Set<PlaceMessage['t']>([
  'op',
  'tableGet',
  'status',
  'events',
]);

/** True when a message of type t is one a client may send (see CLIENT_REQUESTS). */
export function isClientRequest(t: unknown): boolean {
  return typeof t === 'string' && CLIENT_REQUESTS.has(t);
}

/** True when a message of type t is control traffic (see CONTROL). */
export function isControl(t: string): boolean {
  return CONTROL.has(t);
}

/** The cluster as `placestore status --json` prints it (docs/contract.md). */
export interface ClusterStatus {
  valid: boolean;
  invalidReason: string | null;
  tableVersion: number;
  /** The leadership term of the table; tables are ordered by (term, tableVersion). */
  term: number;
  /** The voters: the first live places by id (docs/control-plane.md). */
  voters: number[];
  leader: number | null;
  deputy: number | null;
  failureTimeoutMs: number;
  /** False while fewer than minPlaces active places have joined; partitions is empty until then. */
  formed: boolean;
  minPlaces: number;
  places: {
    id: number;
    address: string;
    pid: number;
    role: 'leader' | 'deputy' | 'member' | 'spare';
    zone: string | null;
    state: 'active' | 'spare' | 'dead';
    primaries: number;
    backups: number;
    /** The place's longest event-loop block lately (ms), as its heartbeats report it; null when unknown. */
    loopBlockMs: number | null;
    /** Where the place serves HTTP (metrics, dashboard), or null. */
    http: string | null;
    /** Where the place serves RESP (the Redis door), or null. */
    resp: string | null;
  }[];
  partitions: {
    id: number;
    primary: number | null;
    backup: number | null;
    /** Where a copy is in progress (state migrating), else null. */
    target: number | null;
    epoch: number;
    state: string;
  }[];
}
