import { isUtf8 } from 'node:buffer';

/**
 * Redis strings as placestore stores them: a value's MessagePack bytes, a str when the bytes are valid
 * UTF-8 (so the native client reads a string) and a bin otherwise (it reads a Buffer). Reading goes
 * the other way without decoding: the payload of a str or bin is the Redis string's bytes.
 */

/** The MessagePack bytes of a Redis string: str for valid UTF-8, bin for anything else. */
export function packRedisString(bytes: Buffer): Buffer {
  const n = bytes.length;
  const text = isUtf8(bytes);
  let head: number;
  if (text && n < 32) head = 1;
  else if (n < 0x100) head = 2;
  else if (n < 0x10000) head = 3;
  else head = 5;
  const out = Buffer.allocUnsafe(head + n);
  if (head === 1) out[0] = 0xa0 | n;
  else if (head === 2) {
    out[0] = text ? 0xd9 : 0xc4;
    out[1] = n;
  } else if (head === 3) {
    out[0] = text ? 0xda : 0xc5;
    out.writeUInt16BE(n, 1);
  } else {
    out[0] = text ? 0xdb : 0xc6;
    out.writeUInt32BE(n, 1);
  }
  bytes.copy(out, head);
  return out;
}

/**
 * Where the Redis string starts in a stored value's MessagePack bytes (held as a latin1 string, one
 * char per byte): the header's length, or -1 when the value is not a str or bin (not a Redis string).
 */
export function redisStringStart(stored: string): number {
  const b = stored.charCodeAt(0);
  if (b >= 0xa0 && b <= 0xbf) return 1;
  switch (b) {
    case 0xd9:
    case 0xc4:
      return 2;
    case 0xda:
    case 0xc5:
      return 3;
    case 0xdb:
    case 0xc6:
      return 5;
    default:
      return -1;
  }
}

/** A RESP bulk string of a stored value's Redis string, or null when the value is not one (WRONGTYPE). */
export function bulkOfStored(stored: string): Buffer | null {
  const start = redisStringStart(stored);
  if (start < 0) return null;
  const n = stored.length - start;
  const head = `$${n}\r\n`;
  const out = Buffer.allocUnsafe(head.length + n + 2);
  out.write(head, 0, 'latin1');
  out.write(stored.slice(start), head.length, 'latin1');
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}
