import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, type FrameError } from '../../src/transport/FrameCodec.js';
import type { WireMessage } from '../../src/transport/Transport.js';

function collect(decoder: FrameDecoder, chunks: Buffer[]): { messages: WireMessage[]; errors: FrameError[] } {
  const messages: WireMessage[] = [];
  const errors: FrameError[] = [];
  for (const chunk of chunks) {
    decoder.push(
      chunk,
      (m) => {
        messages.push(m);
      },
      (e) => {
        errors.push(e);
      },
    );
  }
  return { messages, errors };
}

function rawFrame(payload: Buffer | number[]): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

// Copies so frames do not share msgpackr's output slab with later encodes.
function frameOf(msg: WireMessage): Buffer {
  return Buffer.from(encodeFrame(msg));
}

describe('FrameDecoder', () => {
  it('round-trips a message through encodeFrame', () => {
    const msg = { t: 'put', key: 'k', n: 42, nested: { a: [1, 'two', null, true] } };
    const frame = frameOf(msg);
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const { messages, errors } = collect(new FrameDecoder(1024), [frame]);
    expect(errors).toEqual([]);
    expect(messages).toEqual([msg]);
  });

  it('decodes a frame split at every byte boundary', () => {
    const msg = { t: 'get', key: 'some-key', value: Buffer.from('hello') };
    const frame = frameOf(msg);
    for (let cut = 1; cut < frame.length; cut++) {
      const { messages, errors } = collect(new FrameDecoder(1024), [
        frame.subarray(0, cut),
        frame.subarray(cut),
      ]);
      expect(errors, `cut at ${cut}`).toEqual([]);
      expect(messages, `cut at ${cut}`).toEqual([msg]);
    }
    const oneByteAtATime = [...frame].map((b) => Buffer.from([b]));
    expect(collect(new FrameDecoder(1024), oneByteAtATime).messages).toEqual([msg]);
  });

  it('decodes many frames from one chunk, in order', () => {
    const sent = Array.from({ length: 500 }, (_, i) => ({ t: 'op', i }));
    const chunk = Buffer.concat(sent.map(frameOf));
    const { messages, errors } = collect(new FrameDecoder(1024), [chunk]);
    expect(errors).toEqual([]);
    expect(messages).toEqual(sent);
  });

  it('delivers random messages in order under random chunking', () => {
    const value = fc.oneof(
      fc.integer(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      // msgpackr writes -0 as the integer 0.
      fc.double({ noNaN: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.array(fc.string(), { maxLength: 5 }),
    );
    const message = fc.record({
      t: fc.string({ minLength: 1, maxLength: 10 }),
      id: fc.nat(),
      body: fc.dictionary(
        fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'),
        value,
        { maxKeys: 6 },
      ),
    });
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (msgs, sizes) => {
          const stream = Buffer.concat(msgs.map(frameOf));
          const chunks: Buffer[] = [];
          for (let pos = 0, i = 0; pos < stream.length; i++) {
            const size = sizes[i % sizes.length];
            chunks.push(stream.subarray(pos, pos + size));
            pos += size;
          }
          const { messages, errors } = collect(new FrameDecoder(1 << 20), chunks);
          expect(errors).toEqual([]);
          expect(messages).toEqual(msgs);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fails fatally on an oversized declared length and ignores later input', () => {
    const decoder = new FrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101, 0);
    const first = collect(decoder, [header]);
    expect(first.messages).toEqual([]);
    expect(first.errors).toHaveLength(1);
    const [err] = first.errors;
    expect(err.code).toBe('frame_too_large');
    expect(err.fatal).toBe(true);
    expect(err.message).toContain('101');
    expect(err.message).toContain('100');
    expect(decoder.isFailed).toBe(true);

    const later = collect(decoder, [frameOf({ t: 'ping' })]);
    expect(later).toEqual({ messages: [], errors: [] });
  });

  it.each([
    ['truncated array', [0x92, 0x01]],
    ['trailing bytes', [0x01, 0x02]],
    ['unknown extension', [0xd4, 0x99, 0x00]],
    ['bin longer than frame', [0xc4, 0x10, 0x00]],
    ['empty payload', []],
  ])('reports bad_frame for garbage (%s) and decodes the next frame', (_name, payload) => {
    const decoder = new FrameDecoder(1024);
    const { messages, errors } = collect(decoder, [
      Buffer.concat([rawFrame(payload), frameOf({ t: 'after', n: 1 })]),
    ]);
    expect(errors.map((e) => [e.code, e.fatal])).toEqual([['bad_frame', false]]);
    expect(messages).toEqual([{ t: 'after', n: 1 }]);
  });

  it.each([
    ['number', 7],
    ['array', ['t', 'x']],
    ['object without t', { type: 'x' }],
    ['object with numeric t', { t: 3 }],
    ['binary', Buffer.from('t')],
  ])('reports bad_message for a decoded %s', (_name, value) => {
    const { messages, errors } = collect(new FrameDecoder(1024), [
      // encodeFrame only checks types at compile time, so it can write non-messages for this test.
      Buffer.concat([frameOf(value as unknown as WireMessage), frameOf({ t: 'ok' })]),
    ]);
    expect(errors.map((e) => [e.code, e.fatal])).toEqual([['bad_message', false]]);
    expect(messages).toEqual([{ t: 'ok' }]);
  });

  it('returns binary values as Buffers that do not share memory with the input chunk', () => {
    const frame = frameOf({ t: 'put', value: Buffer.from([1, 2, 3, 4]) });
    const { messages } = collect(new FrameDecoder(1024), [frame]);
    const value = messages[0].value as Buffer;
    expect(Buffer.isBuffer(value)).toBe(true);
    expect(value.buffer).not.toBe(frame.buffer);
    frame.fill(0xee);
    expect([...value]).toEqual([1, 2, 3, 4]);
  });

  it('holds frames back after stop() until the next push', () => {
    const decoder = new FrameDecoder(1024);
    const chunk = Buffer.concat([frameOf({ t: 'a' }), frameOf({ t: 'b' }), frameOf({ t: 'c' })]);
    const seen: string[] = [];
    const onMessage = (m: WireMessage) => {
      seen.push(m.t);
      if (m.t === 'a') decoder.stop();
    };
    decoder.push(chunk, onMessage, () => {});
    expect(seen).toEqual(['a']);
    decoder.push(Buffer.alloc(0), onMessage, () => {});
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
