/**
 * RESP, the Redis protocol, as the Redis door (issue 14) will speak it: an incremental parser of
 * client commands (arrays of bulk strings, or inline commands) with limits, and encoders of replies
 * in RESP2 and RESP3. No I/O: fed chunks, it hands back commands.
 */

/** Past any limit, input is refused with a protocol error (as Redis does, with its words). */
export interface RespLimits {
  /** Largest bulk string (an argument), bytes. */
  maxBulkBytes: number;
  /** Most arguments in one command. */
  maxArrayLength: number;
  /** Longest inline command (a line of text), bytes. */
  maxInlineBytes: number;
  /** Most bytes of arguments in one command (default: no bound beyond the others). */
  maxCommandBytes?: number;
}

export const DEFAULT_RESP_LIMITS: RespLimits = {
  maxBulkBytes: 16 * 1024 * 1024,
  maxArrayLength: 1024 * 1024,
  maxInlineBytes: 64 * 1024,
};

/** Bad input. A fatal one leaves the stream out of step: the connection must be closed after the reply. */
export class RespProtocolError extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);
/** The longest header line (`*N` or `$N`) worth waiting for. */
const MAX_HEADER_BYTES = 64;

/** An array command being read: the arguments so far, how many more, and the length of the next bulk. */
interface Partial {
  args: Buffer[];
  remaining: number;
  bulk: number | null;
  /** Bytes of the arguments so far. */
  bytes: number;
}

/**
 * Parses a client's byte stream into commands. Chunks are kept as they come until a whole line or
 * bulk is there, so a large value arriving in many chunks is copied once. Arguments are slices of
 * the input (no copy per argument).
 */
export class RespParser {
  private buf: Buffer = EMPTY;
  private off = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Bytes needed before parsing can go on (0: try with what is there). */
  private need = 0;
  private partial: Partial | null = null;
  private failed = false;

  constructor(private limits: RespLimits = DEFAULT_RESP_LIMITS) {}

  /** Limits for what comes next (a connection not logged in yet gets small ones, as in Redis). */
  setLimits(limits: RespLimits): void {
    this.limits = limits;
  }

  /** Bytes received and not yet parsed into commands (bounded by the limits). */
  get buffered(): number {
    return this.buf.length - this.off + this.chunkBytes;
  }

  /** Feeds a chunk; calls onCommand per whole command, onError per bad input (nothing after a fatal one). */
  push(chunk: Buffer, onCommand: (args: Buffer[]) => void, onError: (err: RespProtocolError) => void): void {
    if (this.failed) return;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buffered < this.need) return;
    this.buf =
      this.chunks.length === 1 && this.off === this.buf.length
        ? chunk
        : Buffer.concat([this.buf.subarray(this.off), ...this.chunks]);
    this.off = 0;
    this.chunks = [];
    this.chunkBytes = 0;
    this.need = 0;
    for (let steps = 0; steps < 1_000_000_000 && !this.failed; steps++) {
      const r = this.step(onCommand);
      if (r === 'more') return;
      if (r instanceof RespProtocolError) {
        if (r.fatal) {
          this.failed = true;
          this.buf = EMPTY;
          this.off = 0;
        }
        onError(r);
      }
    }
  }

  /** One step: a header, a bulk or an inline command; 'more' when the input ends first. */
  private step(onCommand: (args: Buffer[]) => void): 'more' | 'ok' | RespProtocolError {
    const p = this.partial;
    if (p === null) {
      if (this.off >= this.buf.length) return 'more';
      if (this.buf[this.off] !== 42 /* '*' */) return this.inline(onCommand);
      const n = this.headerNumber(MAX_HEADER_BYTES);
      if (n === null) return 'more';
      if (n instanceof RespProtocolError) return n;
      if (n > this.limits.maxArrayLength || n < -1)
        return new RespProtocolError('Protocol error: invalid multibulk length', true);
      if (n <= 0) return 'ok'; // an empty command is nothing, as in Redis
      this.partial = { args: [], remaining: n, bulk: null, bytes: 0 };
      return 'ok';
    }
    if (p.bulk === null) {
      if (this.off >= this.buf.length) return 'more';
      if (this.buf[this.off] !== 36 /* '$' */) {
        const got = String.fromCharCode(this.buf[this.off]!);
        return new RespProtocolError(`Protocol error: expected '$', got '${got}'`, true);
      }
      const n = this.headerNumber(MAX_HEADER_BYTES);
      if (n === null) return 'more';
      if (n instanceof RespProtocolError) return n;
      if (n < 0 || n > this.limits.maxBulkBytes)
        return new RespProtocolError('Protocol error: invalid bulk length', true);
      p.bytes += n;
      if (p.bytes > (this.limits.maxCommandBytes ?? Number.POSITIVE_INFINITY))
        return new RespProtocolError('Protocol error: command too large', true);
      p.bulk = n;
    }
    const end = this.off + p.bulk + 2;
    if (end > this.buf.length) {
      this.need = end - this.off;
      return 'more';
    }
    if (this.buf[end - 2] !== CR || this.buf[end - 1] !== LF)
      return new RespProtocolError('Protocol error: a bulk string must end with CRLF', true);
    p.args.push(this.buf.subarray(this.off, end - 2));
    this.off = end;
    p.bulk = null;
    if (--p.remaining === 0) {
      this.partial = null;
      onCommand(p.args);
    }
    return 'ok';
  }

  /** Reads `*N\r\n` or `$N\r\n` at off: N, null when the line is not all there, or an error. */
  private headerNumber(maxBytes: number): number | null | RespProtocolError {
    const lf = this.buf.indexOf(LF, this.off);
    if (lf < 0) {
      if (this.buf.length - this.off > maxBytes)
        return new RespProtocolError('Protocol error: too big count or length line', true);
      return null;
    }
    const line = this.buf.toString('latin1', this.off + 1, lf > 0 && this.buf[lf - 1] === CR ? lf - 1 : lf);
    const kind = this.buf[this.off] === 42 ? 'multibulk' : 'bulk';
    this.off = lf + 1;
    if (!/^-?\d{1,19}$/.test(line))
      return new RespProtocolError(`Protocol error: invalid ${kind} length`, true);
    return Number(line);
  }

  /** An inline command: one line of words (quotes as Redis takes them). */
  private inline(onCommand: (args: Buffer[]) => void): 'more' | 'ok' | RespProtocolError {
    const lf = this.buf.indexOf(LF, this.off);
    if (lf < 0) {
      if (this.buf.length - this.off > this.limits.maxInlineBytes)
        return new RespProtocolError('Protocol error: too big inline request', true);
      this.need = this.buf.length - this.off + 1;
      return 'more';
    }
    const end = lf > this.off && this.buf[lf - 1] === CR ? lf - 1 : lf;
    const line = this.buf.subarray(this.off, end);
    this.off = lf + 1;
    if (line.length > this.limits.maxInlineBytes)
      return new RespProtocolError('Protocol error: too big inline request', true);
    const words = splitInline(line);
    if (words === null) return new RespProtocolError('Protocol error: unbalanced quotes in request', false);
    if (words.length > 0) onCommand(words);
    return 'ok';
  }
}

/**
 * Splits an inline command into words: blanks separate; "double quotes" take \n \r \t \\ \" and \xHH;
 * 'single quotes' take \' only. Returns null on unbalanced quotes.
 */
export function splitInline(line: Buffer): Buffer[] | null {
  const words: Buffer[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line[i] === 32 || line[i] === 9)) i++;
    if (i >= n) break;
    const bytes: number[] = [];
    const quote = line[i] === 34 || line[i] === 39 ? line[i]! : 0;
    if (quote !== 0) {
      i++;
      let closed = false;
      while (i < n) {
        const c = line[i]!;
        if (c === 92 /* \ */ && i + 1 < n) {
          const e = line[i + 1]!;
          if (quote === 39) {
            if (e === 39) {
              bytes.push(39);
              i += 2;
              continue;
            }
          } else if (e === 120 /* x */ && i + 3 < n && isHex(line[i + 2]!) && isHex(line[i + 3]!)) {
            bytes.push(Number.parseInt(String.fromCharCode(line[i + 2]!, line[i + 3]!), 16));
            i += 4;
            continue;
          } else {
            const map: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 };
            bytes.push(map[e] ?? e);
            i += 2;
            continue;
          }
        }
        if (c === quote) {
          closed = true;
          i++;
          break;
        }
        bytes.push(c);
        i++;
      }
      // A closing quote must be followed by a blank or the end, as in Redis.
      if (!closed || (i < n && line[i] !== 32 && line[i] !== 9)) return null;
    } else {
      while (i < n && line[i] !== 32 && line[i] !== 9) bytes.push(line[i++]!);
    }
    words.push(Buffer.from(bytes));
  }
  return words;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** The protocol a connection speaks: 2 until HELLO 3. */
export type RespVersion = 2 | 3;

/** `+OK`: a status reply. Carriage returns and line feeds in it become spaces. */
export function simpleString(s: string): Buffer {
  return Buffer.from(`+${s.replace(/[\r\n]/g, ' ')}\r\n`);
}

/** `-ERR ...`: an error reply; its first word is its code (ERR, MOVED, TRYAGAIN, CLUSTERDOWN, ...). */
export function errorReply(s: string): Buffer {
  return Buffer.from(`-${s.replace(/[\r\n]/g, ' ')}\r\n`);
}

/** `:N`: an integer reply. */
export function integerReply(n: number | bigint): Buffer {
  return Buffer.from(`:${n}\r\n`);
}

/** `$N` and the bytes: a bulk string; null is RESP2's `$-1`, RESP3's `_`. */
export function bulkReply(v: Buffer | string | null, version: RespVersion = 2): Buffer {
  if (v === null) return Buffer.from(version === 3 ? '_\r\n' : '$-1\r\n');
  const body = typeof v === 'string' ? Buffer.from(v) : v;
  return Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]);
}

/** `*N` and its items, already encoded; null is RESP2's `*-1`, RESP3's `_`. */
export function arrayReply(items: Buffer[] | null, version: RespVersion = 2): Buffer {
  if (items === null) return Buffer.from(version === 3 ? '_\r\n' : '*-1\r\n');
  return Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items]);
}

/** A map: RESP3's `%N` of key-value pairs; in RESP2 an array of 2N alternating keys and values. */
export function mapReply(pairs: [Buffer, Buffer][], version: RespVersion = 2): Buffer {
  const head = version === 3 ? `%${pairs.length}\r\n` : `*${pairs.length * 2}\r\n`;
  return Buffer.concat([Buffer.from(head), ...pairs.flat()]);
}
