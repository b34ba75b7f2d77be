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
