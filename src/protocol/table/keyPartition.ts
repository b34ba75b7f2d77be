import keySlotOf from 'cluster-key-slot';

/** Redis Cluster's slots: a key's is CRC16 of the key (or of its {hash tag}) modulo this. */
export const SLOTS = 16_384;

/** A key's slot, as Redis Cluster computes it: CRC16 (XMODEM) of its UTF-8 bytes, or of its {hash tag}. */
export function keySlot(key: string): number {
  return keySlotOf(key);
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
  return partitionOfSlot(keySlotOf(key), partitionCount);
}
