import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  arrayReply,
  bulkReply,
  errorReply,
  integerReply,
  mapReply,
  RespParser,
  type RespProtocolError,
  simpleString,
  splitInline,
} from '../../src/transport/RespCodec.js';

/** Feeds chunks; returns the commands (as strings) and the errors, in order. */
function feed(chunks: (Buffer | string)[], parser = new RespParser()) {
  const out: (string[] | { error: string; fatal: boolean })[] = [];
  for (const c of chunks)
    parser.push(
      typeof c === 'string' ? Buffer.from(c, 'latin1') : c,
      (args) => out.push(args.map((a) => a.toString('latin1'))),
      (err: RespProtocolError) => out.push({ error: err.message, fatal: err.fatal }),
    );
  return out;
}

/** A command as a client sends it: an array of bulk strings. */
function encodeCommand(args: Buffer[]): Buffer {
  return Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')]),
  ]);
}

describe('the RESP parser', () => {
  it('reads pipelined commands, binary-safe, and inline ones', () => {
    expect(
      feed(['*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n', 'PING\r\n']),
    ).toEqual([['GET', 'k'], ['SET', 'k', 'a\r\nb'], ['PING']]);
  });

  it('gives the same commands however the bytes are cut into chunks', () => {
    const arg = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(
        fc.array(fc.array(arg, { minLength: 1, maxLength: 5 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (commands, cuts) => {
          const bytes = Buffer.concat(commands.map(encodeCommand));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let at = 0;
          for (const p of points) {
            chunks.push(bytes.subarray(at, p));
            at = p;
          }
          chunks.push(bytes.subarray(at));
          expect(feed(chunks)).toEqual(commands.map((c) => c.map((a) => a.toString('latin1'))));
        },
      ),
    );
  });

  it('splits inline commands as Redis does, quotes and escapes included', () => {
    expect(feed(["SET k \"a b\\n\\x41\" 'it\\'s'\r\n", '\r\n', '  PING  \n'])).toEqual([
      ['SET', 'k', 'a b\nA', "it's"],
      ['PING'],
    ]);
    expect(splitInline(Buffer.from('GET "k'))).toBeNull();
    expect(splitInline(Buffer.from('GET "k"x'))).toBeNull();
  });

  it('unbalanced quotes are an error, and the connection goes on', () => {
    expect(feed(['GET "k\r\nPING\r\n'])).toEqual([
      { error: 'Protocol error: unbalanced quotes in request', fatal: false },
      ['PING'],
    ]);
  });

  it('refuses what is over the limits, or malformed, and reads nothing after', () => {
    const limits = { maxBulkBytes: 10, maxArrayLength: 3, maxInlineBytes: 20 };
    const cases: [string, string][] = [
      ['*4\r\n', 'Protocol error: invalid multibulk length'],
      ['*x\r\n', 'Protocol error: invalid multibulk length'],
      ['*1\r\n$11\r\n', 'Protocol error: invalid bulk length'],
      ['*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
      ['*1\r\n:1\r\n', "Protocol error: expected '$', got ':'"],
      ['*1\r\n$2\r\nabc\r\n', 'Protocol error: a bulk string must end with CRLF'],
      ['x'.repeat(21), 'Protocol error: too big inline request'],
    ];
    for (const [input, error] of cases) {
      const parser = new RespParser(limits);
      expect(feed([input, 'PING\r\n'], parser)).toEqual([{ error, fatal: true }]);
    }
  });

  it('holds a large bulk arriving in many chunks without copying it again per chunk, within the limit', () => {
    const value = Buffer.alloc(1 << 20, 7);
    const bytes = encodeCommand([Buffer.from('SET'), Buffer.from('k'), value]);
    const parser = new RespParser();
    const concat = vi.spyOn(Buffer, 'concat');
    let got: Buffer[] | null = null;
    for (let at = 0; at < bytes.length; at += 1000)
      parser.push(
        bytes.subarray(at, at + 1000),
        (args) => {
          got = args;
        },
        () => {},
      );
    // About 1050 chunks; the value's are joined once, not once per chunk.
    const joins = concat.mock.calls.length;
    concat.mockRestore();
    expect(joins).toBeLessThan(10);
    expect(got).not.toBeNull();
    expect(got![2]!.equals(value)).toBe(true);
    expect(parser.buffered).toBe(0);
  });
});

describe('RESP replies', () => {
  it('encodes each kind in RESP2 and RESP3', () => {
    expect(simpleString('OK').toString()).toBe('+OK\r\n');
    expect(errorReply('ERR bad\r\nthing').toString()).toBe('-ERR bad  thing\r\n');
    expect(integerReply(42).toString()).toBe(':42\r\n');
    expect(bulkReply('héllo').toString()).toBe('$6\r\nhéllo\r\n');
    expect(bulkReply(null).toString()).toBe('$-1\r\n');
    expect(bulkReply(null, 3).toString()).toBe('_\r\n');
    expect(arrayReply([bulkReply('a'), integerReply(1)]).toString()).toBe('*2\r\n$1\r\na\r\n:1\r\n');
    const pairs: [Buffer, Buffer][] = [[bulkReply('server'), bulkReply('placestore')]];
    expect(mapReply(pairs, 3).toString()).toBe('%1\r\n$6\r\nserver\r\n$10\r\nplacestore\r\n');
    expect(mapReply(pairs, 2).toString()).toBe('*2\r\n$6\r\nserver\r\n$10\r\nplacestore\r\n');
  });
});
