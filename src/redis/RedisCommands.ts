import { isUtf8 } from 'node:buffer';
import { Packr } from 'msgpackr';
import type { Place } from '../protocol/Place.js';
import { int64Of, redisStringOf, WRONGTYPE as WRONGTYPE_TEXT } from '../protocol/requests/redisProcessors.js';
import { keySlot, slotOfBytes } from '../protocol/table/keyPartition.js';
import type { OpCode } from '../protocol/wire/messages.js';
import {
  arrayReply,
  bulkReply,
  errorReply,
  integerReply,
  mapReply,
  type RespVersion,
  simpleString,
} from '../transport/RespCodec.js';
import { clusterInfo, clusterNodes, clusterShards, clusterSlots, nodeIdOf } from './clusterTopology.js';
import { bulkOfStored, packRedisString, redisStringStart } from './redisValues.js';

/**
 * The Redis commands of the first set, as plans: a reply now (commands answered from this place's
 * state), or operations for the key's primary and how to turn their results into the reply.
 * Connection commands (AUTH, HELLO, CLIENT, SELECT, QUIT, RESET) are the connection's own
 * (RedisConnection.ts). Every key of a command must hash to one slot, as in Redis Cluster.
 */

const packr = new Packr({ useRecords: false });

/** One operation for a key's primary, as the native protocol's request carries it. */
export interface OpSpec {
  o: OpCode;
  k: string;
  v?: Uint8Array;
  p?: string;
  a?: Uint8Array;
}

/** A place's answer to one operation (a `res` message). */
export interface OpAnswer {
  v?: Uint8Array | null;
  u?: unknown;
  r?: Uint8Array;
}

/** Turns the operations' answers (all succeeded) into the reply. */
export type Finish = (answers: OpAnswer[], v: RespVersion, data: unknown) => Buffer;

/** Operations on keys of one slot, and how to answer once they are done. */
export interface OpsPlan {
  slot: number;
  key: string;
  ops: OpSpec[];
  finish: Finish;
  data?: unknown;
}

/** What a command asks for: a reply now, or operations. */
export type Plan = Buffer | OpsPlan;

/** What the commands read of the place and its process. */
export interface CommandHost {
  readonly place: Place;
  /** The INFO text of the place's process (server, clients, memory, ...). */
  info(section: string | null): string;
}

/** A command's shape, as COMMAND reports it: arity (negative: at least), flags and key positions. */
interface CommandSpec {
  arity: number;
  flags: string[];
  firstKey: number;
  lastKey: number;
  step: number;
  plan: (args: Buffer[], v: RespVersion, host: CommandHost) => Plan;
}

export const OK = simpleString('OK');
const NIL2 = bulkReply(null, 2);
const NIL3 = bulkReply(null, 3);
const WRONGTYPE = errorReply(WRONGTYPE_TEXT);
const SYNTAX = errorReply('ERR syntax error');
const NOT_AN_INTEGER = errorReply('ERR value is not an integer or out of range');
const CROSSSLOT = errorReply("CROSSSLOT Keys in request don't hash to the same slot");
const NO_TTL = (what: string) =>
  errorReply(`ERR placestore has no expiry yet: ${what} is not supported (keys never expire)`);

const nil = (v: RespVersion) => (v === 3 ? NIL3 : NIL2);

/** A key as the store names it: the bytes as UTF-8 text; other bytes are refused (an error reply). */
function keyOf(b: Buffer): string | Buffer {
  if (!isUtf8(b)) return errorReply('ERR placestore keys must be valid UTF-8; this one is not');
  return b.toString('utf8');
}

/** A whole number as Redis takes one (string2ll), or null. */
function integerArg(b: Buffer): bigint | null {
  return int64Of(b.toString('latin1'));
}

/** The keys of a multi-key command: one slot, or the error reply. */
function keysOf(bufs: Buffer[]): { keys: string[]; slot: number } | Buffer {
  const keys: string[] = [];
  let slot = -1;
  for (const b of bufs) {
    const k = keyOf(b);
    if (typeof k !== 'string') return k;
    const s = keySlot(k);
    if (slot >= 0 && s !== slot) return CROSSSLOT;
    slot = s;
    keys.push(k);
  }
  return { keys, slot };
}

/** The reply of a get's answer: the value's bulk, nil when absent, WRONGTYPE (or nil, for MGET) otherwise. */
function bulkOfAnswer(a: OpAnswer, v: RespVersion, wrongType: Buffer): Buffer {
  const u = a.u as { value?: unknown } | undefined;
  if (u === undefined || typeof u.value !== 'string') return nil(v);
  return bulkOfStored(u.value) ?? wrongType;
}

/** A processor's result, decoded. */
function resultOf(a: OpAnswer): unknown {
  return a.r === undefined ? undefined : packr.unpack(a.r);
}

function bulkOfRedisString(s: unknown, v: RespVersion): Buffer {
  if (typeof s === 'string') return bulkReply(Buffer.from(s, 'utf8'), v);
  if (s instanceof Uint8Array) return bulkReply(Buffer.from(s.buffer, s.byteOffset, s.byteLength), v);
  return nil(v);
}

function submit(k: string, p: string, arg: unknown): OpSpec {
  return { o: 'submit', k, p, a: packr.pack(arg) };
}

function oneKey(args: Buffer[], ops: (k: string) => OpSpec[], finish: Finish, data?: unknown): Plan {
  const k = keyOf(args[1]!);
  if (typeof k !== 'string') return k;
  return { slot: keySlot(k), key: k, ops: ops(k), finish, data };
}

const finishOk: Finish = () => OK;
const finishGet: Finish = (a, v) => bulkOfAnswer(a[0]!, v, WRONGTYPE);
const finishInteger: Finish = (a) => integerReply(Number(resultOf(a[0]!)));
const finishIncr: Finish = (a) => integerReply(BigInt(resultOf(a[0]!) as string));
const finishSum: Finish = (a) => integerReply(a.reduce((n, x) => n + Number(resultOf(x)), 0));
const finishExists: Finish = (a) => integerReply(a.filter((x) => x.u !== undefined).length);

/** SET k v [NX|XX] [GET] [IFEQ old]: a put when plain, the redis.set processor otherwise. */
function planSet(args: Buffer[]): Plan {
  let only: 'nx' | 'xx' | undefined;
  let get = false;
  let ifeq: Buffer | undefined;
  for (let i = 3; i < args.length; i++) {
    const opt = args[i]!.toString('latin1').toLowerCase();
    if (opt === 'nx' || opt === 'xx') {
      if (only !== undefined || ifeq !== undefined) return SYNTAX;
      only = opt;
    } else if (opt === 'get') get = true;
    else if (opt === 'ifeq' && i + 1 < args.length) {
      if (only !== undefined || ifeq !== undefined) return SYNTAX;
      ifeq = args[++i];
    } else if (['ex', 'px', 'exat', 'pxat', 'keepttl'].includes(opt))
      return NO_TTL(`SET ... ${opt.toUpperCase()}`);
    else return SYNTAX;
  }
  const value = args[2]!;
  if (only === undefined && !get && ifeq === undefined)
    return oneKey(args, (k) => [{ o: 'put', k, v: packRedisString(value) }], finishOk);
  const arg = { v: redisStringOf(value), only, get: get || undefined, ifeq: ifeq && redisStringOf(ifeq) };
  return oneKey(args, (k) => [submit(k, 'redis.set', arg)], finishSet, get);
}

const finishSet: Finish = (a, v, get) => {
  const [set, old] = resultOf(a[0]!) as [boolean, unknown];
  if (get === true) return bulkOfRedisString(old, v);
  return set ? OK : nil(v);
};

function planIncr(args: Buffer[], by: bigint | null, sign: 1n | -1n): Plan {
  if (by === null) return NOT_AN_INTEGER;
  const delta = (by * sign).toString();
  return oneKey(args, (k) => [submit(k, 'redis.incrby', delta)], finishIncr);
}

function planMget(args: Buffer[]): Plan {
  const ks = keysOf(args.slice(1));
  if (Buffer.isBuffer(ks)) return ks;
  return {
    slot: ks.slot,
    key: ks.keys[0]!,
    ops: ks.keys.map((k) => ({ o: 'get', k })),
    finish: (a, v) =>
      arrayReply(
        a.map((x) => bulkOfAnswer(x, v, nil(v))),
        v,
      ),
  };
}

function planMset(args: Buffer[]): Plan {
  if (args.length % 2 === 0) return errorReply("ERR wrong number of arguments for 'mset' command");
  const names: Buffer[] = [];
  for (let i = 1; i < args.length; i += 2) names.push(args[i]!);
  const ks = keysOf(names);
  if (Buffer.isBuffer(ks)) return ks;
  const ops: OpSpec[] = ks.keys.map((k, i) => ({ o: 'put', k, v: packRedisString(args[2 + 2 * i]!) }));
  return { slot: ks.slot, key: ks.keys[0]!, ops, finish: finishOk };
}

function planKeys(args: Buffer[], op: (k: string) => OpSpec, finish: Finish): Plan {
  const ks = keysOf(args.slice(1));
  if (Buffer.isBuffer(ks)) return ks;
  return { slot: ks.slot, key: ks.keys[0]!, ops: ks.keys.map(op), finish };
}

function planTtl(args: Buffer[]): Plan {
  // No key expires: -1 for a key that exists, -2 for one that does not.
  return oneKey(
    args,
    (k) => [{ o: 'get', k }],
    (a) => integerReply(a[0]!.u === undefined ? -2 : -1),
  );
}

function planCluster(args: Buffer[], v: RespVersion, host: CommandHost): Plan {
  const sub = args[1]!.toString('latin1').toLowerCase();
  const place = host.place;
  const table = place.tableData;
  switch (sub) {
    case 'slots':
      return table === null ? arrayReply([], v) : clusterSlots(table, v);
    case 'shards':
      return table === null ? arrayReply([], v) : clusterShards(table, v);
    case 'nodes':
      return bulkReply(table === null ? '' : clusterNodes(table, place.id), v);
    case 'info':
      return bulkReply(clusterInfo(table, place.invalid), v);
    case 'keyslot':
      if (args.length !== 3) return errorReply("ERR wrong number of arguments for 'cluster|keyslot' command");
      return integerReply(slotOfBytes(args[2]!));
    case 'myid': {
      const me = table?.members.find((m) => m.id === place.id);
      return me === undefined
        ? errorReply('CLUSTERDOWN this place has not joined yet')
        : bulkReply(nodeIdOf(me), v);
    }
    default:
      return errorReply(
        `ERR unknown subcommand '${sub.slice(0, 64)}'. Try CLUSTER SLOTS, SHARDS, NODES, INFO, KEYSLOT or MYID.`,
      );
  }
}

function planCommand(args: Buffer[], v: RespVersion): Plan {
  const sub = args.length > 1 ? args[1]!.toString('latin1').toLowerCase() : '';
  if (sub === 'count') return integerReply(COMMANDS.size + CONNECTION_COMMANDS.length);
  if (sub === 'docs') return mapReply([], v);
  if (sub === '' || sub === 'info') {
    const names =
      sub === '' ? [...COMMANDS.keys()] : args.slice(2).map((b) => b.toString('latin1').toLowerCase());
    return arrayReply(
      names.map((n) => {
        const c = COMMANDS.get(n);
        if (c === undefined) return nil(v);
        return arrayReply(
          [
            bulkReply(n, v),
            integerReply(c.arity),
            arrayReply(
              c.flags.map((f) => simpleString(f)),
              v,
            ),
            integerReply(c.firstKey),
            integerReply(c.lastKey),
            integerReply(c.step),
          ],
          v,
        );
      }),
      v,
    );
  }
  return errorReply(`ERR unknown subcommand '${sub.slice(0, 64)}'. Try COMMAND COUNT, DOCS or INFO.`);
}

/** Counts the keys this place is primary of (DBSIZE: a node's own keys, as in Redis Cluster). */
export function primaryKeys(place: Place): number {
  const t = place.tableData;
  if (t === null) return 0;
  let n = 0;
  for (let p = 0; p < t.partitions.length; p++) {
    const r = place.replica(p);
    if (r?.role === 'primary') n += r.data.size;
  }
  return n;
}

const spec = (
  arity: number,
  flags: string[],
  keys: [number, number, number],
  plan: CommandSpec['plan'],
): CommandSpec => ({ arity, flags, firstKey: keys[0], lastKey: keys[1], step: keys[2], plan });
const W = ['write'];
const R = ['readonly'];
const K1: [number, number, number] = [1, 1, 1];
const NONE: [number, number, number] = [0, 0, 0];

/** The commands answered from here or by the key's primary, by lower-case name. */
const COMMANDS = new Map<string, CommandSpec>([
  ['get', spec(2, R, K1, (a) => oneKey(a, (k) => [{ o: 'get', k }], finishGet))],
  ['set', spec(-3, W, K1, planSet)],
  [
    'setnx',
    spec(3, W, K1, (a) =>
      oneKey(
        a,
        (k) => [submit(k, 'redis.set', { v: redisStringOf(a[2]!), only: 'nx' })],
        (x) => {
          const [set] = resultOf(x[0]!) as [boolean];
          return integerReply(set ? 1 : 0);
        },
      ),
    ),
  ],
  [
    'getset',
    spec(3, W, K1, (a) =>
      oneKey(a, (k) => [submit(k, 'redis.set', { v: redisStringOf(a[2]!), get: true })], finishSet, true),
    ),
  ],
  [
    'append',
    spec(3, W, K1, (a) => oneKey(a, (k) => [submit(k, 'redis.append', redisStringOf(a[2]!))], finishInteger)),
  ],
  ['strlen', spec(2, R, K1, (a) => oneKey(a, (k) => [{ o: 'get', k }], finishStrlen))],
  ['del', spec(-2, W, [1, -1, 1], (a) => planKeys(a, (k) => submit(k, 'redis.del', null), finishSum))],
  ['unlink', spec(-2, W, [1, -1, 1], (a) => planKeys(a, (k) => submit(k, 'redis.del', null), finishSum))],
  ['exists', spec(-2, R, [1, -1, 1], (a) => planKeys(a, (k) => ({ o: 'get', k }), finishExists))],
  ['incr', spec(2, W, K1, (a) => planIncr(a, 1n, 1n))],
  ['decr', spec(2, W, K1, (a) => planIncr(a, 1n, -1n))],
  ['incrby', spec(3, W, K1, (a) => planIncr(a, integerArg(a[2]!), 1n))],
  ['decrby', spec(3, W, K1, (a) => planIncr(a, integerArg(a[2]!), -1n))],
  ['mget', spec(-2, R, [1, -1, 1], planMget)],
  ['mset', spec(-3, W, [1, -1, 2], planMset)],
  ['ttl', spec(2, R, K1, planTtl)],
  ['pttl', spec(2, R, K1, planTtl)],
  ['expire', spec(-3, W, K1, () => NO_TTL('EXPIRE'))],
  ['pexpire', spec(-3, W, K1, () => NO_TTL('PEXPIRE'))],
  ['setex', spec(4, W, K1, () => NO_TTL('SETEX'))],
  ['psetex', spec(4, W, K1, () => NO_TTL('PSETEX'))],
  [
    'ping',
    spec(-1, [], NONE, (a, v) =>
      a.length > 2 ? wrongArity('ping') : a.length === 2 ? bulkReply(a[1]!, v) : simpleString('PONG'),
    ),
  ],
  ['echo', spec(2, [], NONE, (a, v) => bulkReply(a[1]!, v))],
  ['cluster', spec(-2, [], NONE, planCluster)],
  ['command', spec(-1, [], NONE, (a, v) => planCommand(a, v))],
  [
    'info',
    spec(-1, [], NONE, (a, v, h) =>
      bulkReply(h.info(a.length > 1 ? a[1]!.toString('latin1').toLowerCase() : null), v),
    ),
  ],
  ['dbsize', spec(1, R, NONE, (_a, _v, h) => integerReply(primaryKeys(h.place)))],
  ['readonly', spec(1, [], NONE, () => OK)],
  ['readwrite', spec(1, [], NONE, () => OK)],
  ['asking', spec(1, [], NONE, () => OK)],
  [
    'config',
    spec(-2, [], NONE, (a, v) =>
      a[1]!.toString('latin1').toLowerCase() === 'get'
        ? mapReply([], v)
        : errorReply(
            'ERR placestore is configured by its command line (placestore place --help), not CONFIG SET',
          ),
    ),
  ],
]);

const finishStrlen: Finish = (a) => {
  const u = a[0]!.u as { value?: unknown } | undefined;
  if (u === undefined || typeof u.value !== 'string') return integerReply(0);
  const start = redisStringStart(u.value);
  return start < 0 ? WRONGTYPE : integerReply(u.value.length - start);
};

/** The connection's own commands (RedisConnection.ts), counted by COMMAND COUNT. */
export const CONNECTION_COMMANDS = ['auth', 'hello', 'client', 'select', 'quit', 'reset'];

export function wrongArity(name: string): Buffer {
  return errorReply(`ERR wrong number of arguments for '${name}' command`);
}

/** Redis's words for a command it does not know, with the first arguments. */
export function unknownCommand(args: Buffer[]): Buffer {
  const name = args[0]!.toString('utf8').slice(0, 128);
  const rest = args
    .slice(1, 4)
    .map((a) => `'${a.toString('utf8').slice(0, 128)}' `)
    .join('');
  return errorReply(`ERR unknown command '${name}', with args beginning with: ${rest}`);
}

/** Plans a command other than the connection's own: its reply, or the operations to run. */
export function planCommandOf(name: string, args: Buffer[], v: RespVersion, host: CommandHost): Plan {
  const c = COMMANDS.get(name);
  if (c === undefined) return unknownCommand(args);
  if (c.arity > 0 ? args.length !== c.arity : args.length < -c.arity) return wrongArity(name);
  return c.plan(args, v, host);
}
