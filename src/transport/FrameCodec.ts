import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import '../protocol/wire/inlineValue.js';
import type { Tagged, WireMessage } from './Transport.js';

/** Largest frame payload accepted unless configured otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Bytes of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Why a frame was rejected. */
export type FrameErrorCode = 'frame_too_large' | 'bad_frame' | 'bad_message';

/** A rejected frame; `fatal` means the stream cannot be resynchronised and must be closed. */
export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** An empty chunk: pushing it resumes a decoder after `stop()`. */
export const EMPTY_CHUNK: Buffer = Buffer.alloc(0);

/**
 * Encodes one message as a length-prefixed frame.
 * The result is a view into msgpackr's shared output slab; it is never overwritten, but may pin the slab until released.
 */
export function encodeFrame(msg: Tagged): Buffer {
  const frame: Buffer = packr.pack(msg, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

/** True for a plain object (not an array, Buffer, Date, ...) with a string `t`. */
export function isWireMessage(value: unknown): value is WireMessage {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return typeof (value as { t?: unknown }).t === 'string';
}

/** Splits a byte stream into frames and decodes each one; see `push`. */
export class FrameDecoder {
  // Unconsumed input: pending[0] starts at headOffset; all later chunks are whole.
  private pending: Buffer[] = [];
  private headOffset = 0;
  private pendingBytes = 0;
  private failed = false;
  private busy = false;
  private stopRequested = false;
  /** Bytes of the frame being delivered (for bounds in bytes on frames held). */
  lastFrameBytes = 0;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received but not yet decoded. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** True after a fatal error; all later input is ignored. */
  get isFailed(): boolean {
    return this.failed;
  }

  /**
   * Appends chunk and delivers every complete frame, in order. Non-fatal errors skip one frame;
   * after a fatal one, nothing more is delivered. An empty chunk resumes delivery after `stop()`.
   */
  push(chunk: Buffer, onMessage: (msg: WireMessage) => void, onError: (err: FrameError) => void): void {
    if (this.failed) return;
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    // A callback that re-enters push only appends; the outer loop delivers.
    if (this.busy) return;
    this.busy = true;
    this.stopRequested = false;
    try {
      this.drain(onMessage, onError);
    } finally {
      this.busy = false;
    }
  }

  /** Keeps chunk for later without decoding anything (the reader is out of its turn's budget). */
  hold(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** Called from onMessage: stop delivering after the current frame; the rest waits for the next push. */
  stop(): void {
    if (this.busy) this.stopRequested = true;
  }

  private drain(onMessage: (msg: WireMessage) => void, onError: (err: FrameError) => void): void {
    while (!this.stopRequested && this.pendingBytes >= FRAME_HEADER_BYTES) {
      const size = this.peekHeader();
      if (size > this.maxFrameBytes) {
        this.failed = true;
        this.pending = [];
        this.pendingBytes = 0;
        this.headOffset = 0;
        onError(
          new FrameError(
            'frame_too_large',
            `frame declares ${size} bytes, more than the limit of ${this.maxFrameBytes} bytes`,
            true,
          ),
        );
        return;
      }
      const total = FRAME_HEADER_BYTES + size;
      if (this.pendingBytes < total) return;
      const head = this.pending[0];
      let src: Buffer;
      let start: number;
      if (head.length - this.headOffset >= total) {
        src = head;
        start = this.headOffset + FRAME_HEADER_BYTES;
        this.consumeFromHead(total);
      } else {
        src = this.takeAcrossChunks(total);
        start = FRAME_HEADER_BYTES;
      }
      this.lastFrameBytes = size;
      this.deliver(src, start, start + size, onMessage, onError);
    }
  }

  private peekHeader(): number {
    const head = this.pending[0];
    if (head.length - this.headOffset >= FRAME_HEADER_BYTES) return head.readUInt32BE(this.headOffset);
    let size = 0;
    let chunkIndex = 0;
    let offset = this.headOffset;
    for (let i = 0; i < FRAME_HEADER_BYTES; i++) {
      while (offset >= this.pending[chunkIndex].length) {
        chunkIndex++;
        offset = 0;
      }
      size = size * 256 + this.pending[chunkIndex][offset++];
    }
    return size;
  }

  private consumeFromHead(n: number): void {
    this.headOffset += n;
    this.pendingBytes -= n;
    if (this.headOffset === this.pending[0].length) {
      this.pending.shift();
      this.headOffset = 0;
    }
  }

  // Copies exactly one frame that spans chunks; each received byte is copied at most once.
  private takeAcrossChunks(total: number): Buffer {
    const out = Buffer.allocUnsafe(total);
    let filled = 0;
    let used = 0;
    while (filled < total) {
      const chunk = this.pending[used];
      const available = chunk.length - this.headOffset;
      const n = Math.min(available, total - filled);
      chunk.copy(out, filled, this.headOffset, this.headOffset + n);
      filled += n;
      if (n === available) {
        used++;
        this.headOffset = 0;
      } else {
        this.headOffset += n;
      }
    }
    this.pending.splice(0, used);
    this.pendingBytes -= total;
    return out;
  }

  private deliver(
    src: Buffer,
    start: number,
    end: number,
    onMessage: (msg: WireMessage) => void,
    onError: (err: FrameError) => void,
  ): void {
    let value: unknown;
    try {
      // Unpackr treats end 0 as "to the end of the buffer", so an empty payload is rejected here.
      if (end === start) throw new Error('empty payload');
      value = unpackr.unpack(src, { start, end });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      onError(
        new FrameError('bad_frame', `invalid MessagePack payload (${end - start} bytes): ${reason}`, false),
      );
      return;
    }
    if (!isWireMessage(value)) {
      onError(new FrameError('bad_message', 'frame payload is not an object with a string "t" field', false));
      return;
    }
    onMessage(value);
  }
}
