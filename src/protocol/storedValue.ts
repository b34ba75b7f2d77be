import { addExtension } from 'msgpackr';

/**
 * A stored value: its MessagePack bytes held as a one-byte string (latin1 maps bytes 1:1), about half
 * the memory of a Uint8Array, which carries an object and a backing store of its own.
 */
export type Stored = string;

/** The stored form of a value's MessagePack bytes. */
export function stored(bytes: Uint8Array): Stored {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.toString('latin1');
}

/** The MessagePack bytes of a stored value. */
export function storedBytes(value: Stored): Uint8Array {
  return Buffer.from(value, 'latin1');
}

/**
 * A stored value in an outgoing message: encoded by writing its bytes into the frame as they are, so
 * the receiver decodes the value itself with the message (no bytes field, no second decode, no copy).
 */
export class InlineValue {
  constructor(readonly value: Stored) {}
}

// Never on the wire (the bytes are written inline); the type only keys the encoder's lookup.
const INLINE_VALUE_EXTENSION_TYPE = 0x7f;

// msgpackr's typings miss the (instance, allocateForWrite) form of pack that writes into the frame.
addExtension({
  Class: InlineValue,
  type: INLINE_VALUE_EXTENSION_TYPE,
  pack(
    instance: InlineValue,
    allocateForWrite: (size: number) => { target: Buffer; position: number },
  ): undefined {
    const { target, position } = allocateForWrite(instance.value.length);
    target.write(instance.value, position, instance.value.length, 'latin1');
    return undefined;
  },
  unpack(bytes: Uint8Array) {
    return bytes;
  },
} as unknown as Parameters<typeof addExtension>[0]);
