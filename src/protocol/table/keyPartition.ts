/** Redis Cluster's slots: a key's is CRC16 of the key (or of its {hash tag}) modulo this. */
export const SLOTS = 16_384;

/** CRC16 (XMODEM, polynomial 0x1021) of each byte value, for one table look-up per byte. */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The CRC16 of the chars from..to of an ASCII string (its chars are its UTF-8 bytes). */
function crc16OfAscii(key: string, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++)
    crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ key.charCodeAt(i)) & 0xff]!;
  return crc;
}

function crc16OfBytes(bytes: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/**
 * A key's slot, as Redis Cluster computes it (keyHashSlot): CRC16 of the key's UTF-8 bytes, or of its
 * hash tag, the bytes between the first '{' and the first '}' after it when there are some. An ASCII
 * key is hashed in place, with no copy: every request routes by it.
 */
export function keySlot(key: string): number {
  const n = key.length;
  let open = -1;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return slotOfBytes(Buffer.from(key, 'utf8'));
    if (c === 0x7b && open === -1) open = i;
  }
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16OfAscii(key, open + 1, close) & 0x3fff;
  }
  return crc16OfAscii(key, 0, n) & 0x3fff;
}

/** The slot of a key given as its bytes (keySlot's rule). */
export function slotOfBytes(key: Uint8Array): number {
  const open = key.indexOf(0x7b);
  if (open !== -1) {
    const close = key.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16OfBytes(key, open + 1, close) & 0x3fff;
  }
  return crc16OfBytes(key, 0, key.length) & 0x3fff;
}

/** A slot's partition: slots go to partitions in contiguous ranges (partition = floor(slot * P / 16384)). */
export function partitionOfSlot(slot: number, partitionCount: number): number {
  return Math.floor((slot * partitionCount) / SLOTS);
}

/**
 * Maps a key to its partition through its Redis Cluster slot, so a key lives in the same partition
 * whichever door (the native protocol or RESP) wrote it, and keys with the same {hash tag} share one.
 */
export function partitionOfKey(key: string, partitionCount: number): number {
  return partitionOfSlot(keySlot(key), partitionCount);
}
