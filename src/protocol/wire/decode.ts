import type { Limits } from '../limits.js';
import type { TableData } from '../table/PartitionTable.js';
import { BATCH_ENTRY_FIELDS, type ErrorCode, type PlaceMessage, type WireMessage } from './messages.js';
import { validateOp } from './requestValidation.js';

/** Why a raw message was refused: answered to its sender as an error, never handed to the protocol. */
export class Rejection {
  constructor(
    readonly code: ErrorCode,
    readonly text: string,
  ) {}
}

type Check = (v: unknown) => boolean;

const int: Check = (v) => Number.isSafeInteger(v);
const nat: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const str: Check = (v) => typeof v === 'string';
const bytes: Check = (v) => v instanceof Uint8Array;
const optional =
  (c: Check): Check =>
  (v) =>
    v === undefined || c(v);
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

const MEMBER_STATES: ReadonlySet<unknown> = new Set(['active', 'spare', 'dead']);
const PARTITION_STATES: ReadonlySet<unknown> = new Set(['ok', 'degraded', 'migrating', 'lost']);

// Built once: the table checks run on every table a message carries (no closure per member).
const nullableStr = nullable(str);
const optionalStr = optional(str);
const nullableNat = nullable(nat);

const outcome: Check = (v) =>
  isObject(v) && (v.ok === undefined || typeof v.ok === 'boolean') && (v.r === undefined || bytes(v.r));

function isMember(v: unknown): boolean {
  return (
    isObject(v) &&
    nat(v.id) &&
    str(v.address) &&
    nullableStr(v.zone) &&
    int(v.pid) &&
    MEMBER_STATES.has(v.state) &&
    optionalStr(v.http) &&
    optionalStr(v.resp)
  );
}

function isAssignment(v: unknown): boolean {
  return (
    isObject(v) &&
    nullableNat(v.primary) &&
    nullableNat(v.backup) &&
    nullableNat(v.target) &&
    nat(v.epoch) &&
    PARTITION_STATES.has(v.state) &&
    // A place never holds a partition twice.
    (v.primary === null || (v.primary !== v.backup && v.primary !== v.target))
  );
}

/**
 * True when v has the shape of a partition table, members and partitions included, and holds
 * together: member ids unique, every partition's places among the members, partitions once formed.
 */
export function isTableData(v: unknown): v is TableData {
  return isTableShape(v) && holdsTogether(v);
}

function holdsTogether(t: TableData): boolean {
  if (t.formed && t.partitions.length === 0) return false;
  const ids = new Set<number>();
  for (const m of t.members) {
    if (ids.has(m.id)) return false;
    ids.add(m.id);
  }
  const known = (id: number | null) => id === null || ids.has(id);
  return t.partitions.every((a) => known(a.primary) && known(a.backup) && known(a.target));
}

function isTableShape(v: unknown): v is TableData {
  return (
    isObject(v) &&
    nat(v.version) &&
    nat(v.term) &&
    typeof v.formed === 'boolean' &&
    nat(v.minPlaces) &&
    typeof v.voters === 'number' &&
    Number.isSafeInteger(v.voters) &&
    v.voters >= 1 &&
    typeof v.valid === 'boolean' &&
    nullableStr(v.invalidReason) &&
    Array.isArray(v.members) &&
    v.members.every(isMember) &&
    Array.isArray(v.partitions) &&
    v.partitions.every(isAssignment) &&
    (v.nextId === undefined || nat(v.nextId))
  );
}

const table: Check = isTableData;

/** Replication entries flattened as in ReplicateBatch: p, e, s, k, v, c, i, lo, out. */
const entries: Check = (v) => {
  if (!Array.isArray(v) || v.length % BATCH_ENTRY_FIELDS !== 0) return false;
  for (let i = 0; i < v.length; i += BATCH_ENTRY_FIELDS) {
    if (!nat(v[i]) || !nat(v[i + 1]) || !nat(v[i + 2]) || !str(v[i + 3])) return false;
    if (!(v[i + 4] === null || bytes(v[i + 4]))) return false;
    if (!(v[i + 5] === null || str(v[i + 5])) || !(v[i + 6] === null || int(v[i + 6]))) return false;
    if (!int(v[i + 7]) || !(v[i + 8] === null || outcome(v[i + 8]))) return false;
  }
  return true;
};

/** (client, lo, forgotten) triples. */
const sessionBounds: Check = (v) =>
  Array.isArray(v) && v.length % 3 === 0 && v.every((x, i) => (i % 3 === 0 ? str(x) : nat(x)));

/** (partition, epoch, seq) triples. */
const acks: Check = (v) => Array.isArray(v) && v.length % 3 === 0 && v.every(nat);

/** Keys and values, flattened. */
const keyValues: Check = (v) => {
  if (!Array.isArray(v) || v.length % 2 !== 0) return false;
  for (let i = 0; i < v.length; i += 2) if (!str(v[i]) || !bytes(v[i + 1])) return false;
  return true;
};

/** Remembered results, flattened: client, request id, outcome. */
const results: Check = (v) => {
  if (!Array.isArray(v) || v.length % 3 !== 0) return false;
  for (let i = 0; i < v.length; i += 3) if (!str(v[i]) || !int(v[i + 1]) || !outcome(v[i + 2])) return false;
  return true;
};

const ERROR_CODES: ReadonlySet<unknown> = new Set<ErrorCode>([
  'redirect',
  'unavailable',
  'invalid',
  'bad_request',
  'too_large',
  'unknown_command',
  'unknown_processor',
  'processor_failed',
  'bad_frame',
  'frame_too_large',
  'bad_message',
  'busy',
  'unauthenticated',
  'unauthorized',
]);

type Schema = readonly (readonly [field: string, check: Check, what: string])[];

const TV = ['tv', nat, 'a table version'] as const;

/** The fields each message must carry (client requests are checked by validateOp). */
const SCHEMAS: { readonly [T in Exclude<PlaceMessage['t'], 'op'>]: Schema } = {
  repl: [
    TV,
    ['p', nat, 'a partition number'],
    ['e', nat, 'an epoch'],
    ['s', nat, 'a sequence number'],
    ['k', str, 'a key'],
    ['v', nullable(bytes), 'bytes or null'],
    ['c', optional(str), 'a client id'],
    ['i', optional(int), 'a request id'],
    ['lo', optional(int), 'a request id'],
    ['out', optional(outcome), 'an outcome'],
  ],
  replBatch: [TV, ['es', entries, 'replication entries']],
  replAcks: [TV, ['id', nat, 'a place id'], ['as', acks, 'acknowledgements']],
  replReject: [TV, ['p', nat, 'a partition number'], ['e', nat, 'an epoch'], ['msg', str, 'a string']],
  snap: [
    TV,
    ['p', nat, 'a partition number'],
    ['e', nat, 'an epoch'],
    ['s', nat, 'a sequence number'],
    ['from', nat, 'a place id'],
    ['i', nat, 'a piece number'],
    ['last', (v) => typeof v === 'boolean', 'a boolean'],
    ['g', nat, 'a copy attempt'],
    ['kv', keyValues, 'keys and values'],
    ['rs', results, 'remembered results'],
    ['sw', optional(sessionBounds), 'session bounds'],
    ['sd', optional((v) => typeof v === 'boolean'), 'a boolean'],
  ],
  snapAck: [
    TV,
    ['p', nat, 'a partition number'],
    ['e', nat, 'an epoch'],
    ['i', nat, 'a piece number'],
    ['g', nat, 'a copy attempt'],
    ['id', nat, 'a place id'],
  ],
  copied: [
    TV,
    ['p', nat, 'a partition number'],
    ['to', nat, 'a place id'],
    ['e', nat, 'an epoch'],
    ['relay', optional((v) => typeof v === 'boolean'), 'a boolean'],
  ],
  handedOver: [TV, ['p', nat, 'a partition number'], ['from', nat, 'a place id'], ['e', nat, 'an epoch']],
  hb: [
    TV,
    ['term', nat, 'a term'],
    ['id', nat, 'a place id'],
    ['ts', num, 'a time'],
    ['lead', optional((v) => typeof v === 'boolean'), 'a boolean'],
    ['la', optional(num), 'a time'],
    ['ur', optional((v) => Array.isArray(v) && v.length <= 1024 && v.every(nat)), 'place ids'],
    ['lb', optional(num), 'a duration'],
  ],
  hbAck: [
    TV,
    ['term', nat, 'a term'],
    ['id', nat, 'a place id'],
    ['ts', num, 'a time'],
    ['lr', optional(num), 'a duration'],
  ],
  join: [
    TV,
    ['address', str, 'an address'],
    ['zone', nullable(str), 'a zone or null'],
    ['spare', optional((v) => typeof v === 'boolean'), 'a boolean'],
    ['pid', int, 'a process id'],
    ['http', optional(str), 'an address'],
    ['resp', optional(str), 'an address'],
  ],
  joined: [TV, ['id', nat, 'a place id'], ['table', table, 'a partition table']],
  tablePush: [TV, ['table', table, 'a partition table']],
  tableAck: [TV, ['term', nat, 'a term'], ['id', nat, 'a place id']],
  vote: [
    TV,
    ['term', nat, 'a term'],
    ['id', nat, 'a place id'],
    ['pre', optional((v) => typeof v === 'boolean'), 'a boolean'],
  ],
  voteReply: [
    TV,
    ['term', nat, 'a term'],
    ['id', nat, 'a place id'],
    ['granted', (v) => typeof v === 'boolean', 'a boolean'],
    ['pre', optional((v) => typeof v === 'boolean'), 'a boolean'],
    ['table', table, 'a partition table'],
  ],
  tableUpdate: [TV, ['table', table, 'a partition table']],
  tableGet: [TV, ['term', optional(nat), 'a term']],
  table: [
    TV,
    ['id', nullable(nat), 'a place id or null'],
    ['table', table, 'a partition table'],
    ['nq', optional(str), 'a string'],
  ],
  invalid: [TV, ['term', nat, 'a term'], ['reason', str, 'a string']],
  status: [TV, ['id', optional(int), 'a request id']],
  events: [TV, ['id', optional(int), 'a request id'], ['since', nat, 'a sequence number']],
  err: [
    ['tv', optional(nat), 'a table version'],
    ['id', optional(int), 'a request id'],
    ['code', (v) => ERROR_CODES.has(v), 'an error code'],
    ['msg', str, 'a string'],
    ['to', optional(str), 'an address'],
    ['table', optional(table), 'a partition table'],
  ],
};

const SCHEMA_OF = new Map<string, Schema>(Object.entries(SCHEMAS));
const CHECKED_ELSEWHERE: Schema = [];

/** What a message's checks need from the place: its limits and the processors it knows. */
export interface DecodeRules {
  limits: Limits;
  processors: ReadonlyMap<string, unknown>;
}

function conforms(m: WireMessage, schema: Schema): m is WireMessage & PlaceMessage {
  for (let i = 0; i < schema.length; i++) {
    const rule = schema[i]!;
    if (!rule[1](m[rule[0]])) return false;
  }
  return true;
}

/**
 * Checks a message as it came off the wire against the shape of its type: fields, types, ranges and
 * sizes. Returns the same object typed, or a Rejection naming what was wrong. Nothing unchecked
 * reaches the protocol.
 */
export function decodePlaceMessage(m: WireMessage, rules: DecodeRules): PlaceMessage | Rejection {
  if (m.t === 'op') {
    // validateOp checks every field of a request; the empty schema only types the result.
    const problem = validateOp(m, rules.limits, rules.processors);
    if (problem === null && conforms(m, CHECKED_ELSEWHERE)) return m;
    return new Rejection(problem?.[0] ?? 'bad_request', problem?.[1] ?? 'malformed request');
  }
  const schema = SCHEMA_OF.get(m.t);
  if (schema === undefined) return new Rejection('unknown_command', `unknown message type '${String(m.t)}'`);
  if (conforms(m, schema)) return m;
  const [field, , what] = schema.find(([f, check]) => !check(m[f]))!;
  return new Rejection('bad_request', `malformed '${m.t}' message: '${field}' must be ${what}`);
}
