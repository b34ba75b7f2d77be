import { isUtf8 } from 'node:buffer';
import type { Processor } from './processors.js';

/**
 * The processors behind the Redis door's conditional and read-modify-write commands (SET with
 * NX/XX/GET/IFEQ, INCRBY, APPEND, DEL), run at the key's primary like any processor, so they are
 * atomic per key and replicated as their resulting value. A Redis string is a value stored as a
 * MessagePack string (valid UTF-8) or bytes (anything else); any other value is of the wrong type.
 * Errors start with Redis's own code (WRONGTYPE, ERR), which the door answers with.
 */

/** A Redis string as a processor sees it: a JS string or bytes; undefined when the key is absent. */
type RedisString = string | Uint8Array;

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const NOT_AN_INTEGER = 'ERR value is not an integer or out of range';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isRedisString(v: unknown): v is RedisString {
  return typeof v === 'string' || v instanceof Uint8Array;
}

/** The current value as a Redis string, or undefined when absent; throws WRONGTYPE for any other value. */
function current(v: unknown): RedisString | undefined {
  if (v === undefined || isRedisString(v)) return v;
  throw new Error(WRONGTYPE);
}

function bytesOf(v: RedisString): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Bytes stored as the door stores them: a string when they are valid UTF-8, bytes otherwise. */
export function redisStringOf(bytes: Buffer): RedisString {
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes;
}

function sameBytes(a: RedisString, b: RedisString): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return bytesOf(a).equals(bytesOf(b));
}

/** SET's argument: the new value and its conditions. */
export interface RedisSetArg {
  v: RedisString;
  /** 'nx': only when absent; 'xx': only when present. */
  only?: 'nx' | 'xx';
  /** Set only when the current value equals this (Redis 8.4's IFEQ); an absent key is not created. */
  ifeq?: RedisString;
  /** Return the old value (SET ... GET, GETSET). */
  get?: boolean;
}

/** SET with conditions: returns [set, old value or null]. */
const set: Processor = (value, arg) => {
  const a = arg as RedisSetArg;
  if (a === null || typeof a !== 'object' || !isRedisString(a.v)) throw new Error('ERR syntax error');
  // SET without GET overwrites a value of any type, as in Redis; with GET the old one must be a string.
  const old = a.get === true || a.ifeq !== undefined ? current(value) : (value as RedisString | undefined);
  let go = true;
  if (a.only === 'nx') go = value === undefined;
  else if (a.only === 'xx') go = value !== undefined;
  if (a.ifeq !== undefined) go = old !== undefined && sameBytes(old, a.ifeq);
  const result = [go, a.get === true ? (old ?? null) : null];
  return go ? { value: a.v, result } : { result };
};

/** Adds a whole number (a decimal string) to an integer value; absent counts as 0. Returns the sum as a decimal string. */
const incrby: Processor = (value, arg) => {
  if (typeof arg !== 'string' || !isInteger(arg)) throw new Error(NOT_AN_INTEGER);
  const by = BigInt(arg);
  let base: bigint;
  if (value === undefined) base = 0n;
  else if (typeof value === 'number') {
    // A counter the native client's increment processor kept as a number.
    if (!Number.isSafeInteger(value)) throw new Error(NOT_AN_INTEGER);
    base = BigInt(value);
  } else {
    const s = current(value)!;
    const text = typeof s === 'string' ? s : Buffer.from(s).toString('latin1');
    const parsed = int64Of(text);
    if (parsed === null) throw new Error(NOT_AN_INTEGER);
    base = parsed;
  }
  const next = base + by;
  if (next < INT64_MIN || next > INT64_MAX) throw new Error('ERR increment or decrement would overflow');
  const text = next.toString();
  // A number stays a number (for the native client's readers); a Redis string stays a string.
  const stored = typeof value === 'number' && Number.isSafeInteger(Number(next)) ? Number(next) : text;
  return { value: stored, result: text };
};

/** A whole number as Redis's string2ll takes it: an optional minus, no leading zeros, at most 20 characters. */
function isInteger(s: string): boolean {
  return s.length <= 20 && /^(0|-?[1-9]\d*)$/.test(s);
}

/** A signed 64-bit integer written as Redis takes one, or null. */
export function int64Of(s: string): bigint | null {
  if (!isInteger(s)) return null;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

/** Appends bytes to a string value (absent counts as empty); returns the new length in bytes. */
const append: Processor = (value, arg) => {
  if (!isRedisString(arg)) throw new Error('ERR syntax error');
  const old = current(value);
  if (old === undefined) return { value: arg, result: bytesOf(arg).length };
  if (typeof old === 'string' && typeof arg === 'string') {
    const next = old + arg;
    return { value: next, result: Buffer.byteLength(next) };
  }
  const next = Buffer.concat([bytesOf(old), bytesOf(arg)]);
  return { value: redisStringOf(next), result: next.length };
};

/** Deletes the key (of any type); returns 1 when it was there, 0 otherwise. */
const del: Processor = (value) => (value === undefined ? { result: 0 } : { delete: true, result: 1 });

/** The Redis door's processors, registered with the built-ins under these names. */
export const REDIS_PROCESSORS: Readonly<Record<string, Processor>> = {
  'redis.set': set,
  'redis.incrby': incrby,
  'redis.append': append,
  'redis.del': del,
};
