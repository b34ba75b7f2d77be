/** Maps a key to its partition: FNV-1a over UTF-16 code units, so clients and places agree without encoding. */
export function partitionOfKey(key: string, partitionCount: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitionCount;
}
