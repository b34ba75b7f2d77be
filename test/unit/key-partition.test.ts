import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  keySlot,
  partitionOfKey,
  partitionOfSlot,
  SLOTS,
  slotOfBytes,
} from '../../src/protocol/table/keyPartition.js';

describe('keys to slots to partitions', () => {
  it("slots are Redis Cluster's (values from CLUSTER KEYSLOT), hash tags included", () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('{user1000}.following')).toBe(3443);
    expect(keySlot('{user1000}.followers')).toBe(3443);
    expect(keySlot('user1000')).toBe(3443);
    // An empty tag is no tag: the whole key counts.
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
  });

  it('an empty tag is no tag, even with a } further on (redis-server 7 CLUSTER KEYSLOT; cluster-key-slot 1.1.2 got these wrong)', () => {
    const fromRedis: [string, number][] = [
      ['foo{}{bar}', 8363],
      ['{}}', 14790],
      ['a{}b}', 14284],
      ['x{}}y', 2083],
      ['{bar', 4015],
      ['{a{b}', 13340],
      ['\u00e9{}x}', 6705],
      ['{\u00e9}', 10180],
    ];
    for (const [key, slot] of fromRedis) expect([key, keySlot(key)]).toEqual([key, slot]);
  });

  it("the slot of any key, ASCII or not, is Redis's keyHashSlot on its UTF-8 bytes", () => {
    // Redis's cluster.c, transcribed: first '{', first '}' after it, an empty tag is none; CRC16 bit by bit.
    const reference = (key: string): number => {
      const b = Buffer.from(key, 'utf8');
      let s = b.indexOf(0x7b);
      let e = s === -1 ? -1 : b.indexOf(0x7d, s + 1);
      if (s === -1 || e === -1 || e === s + 1) [s, e] = [-1, b.length];
      let crc = 0;
      for (const byte of b.subarray(s + 1, e)) {
        crc ^= byte << 8;
        for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
      }
      return crc & 0x3fff;
    };
    const piece = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('{', '}', '{}', '}{', '\u00e9', '\u{1f600}'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const key = pieces.join('');
        expect(keySlot(key)).toBe(reference(key));
        expect(slotOfBytes(Buffer.from(key, 'utf8'))).toBe(reference(key));
      }),
      { numRuns: 3000 },
    );
  });

  it('slots go to partitions in contiguous ranges, every partition getting some', () => {
    for (const p of [1, 2, 3, 271, 1000, SLOTS]) {
      const seen = new Set<number>();
      let last = 0;
      for (let s = 0; s < SLOTS; s++) {
        const part = partitionOfSlot(s, p);
        expect(part).toBeGreaterThanOrEqual(last);
        last = part;
        seen.add(part);
      }
      expect(seen.size).toBe(p);
    }
  });

  it('a key and its hash-tagged kin share a partition', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !t.includes('}') && !t.includes('{')),
        fc.string(),
        fc.string(),
        (tag, a, b) => {
          expect(partitionOfKey(`${a.replace(/[{}]/g, '')}{${tag}}${b}`, 271)).toBe(
            partitionOfKey(`{${tag}}`, 271),
          );
        },
      ),
    );
  });

  it('short sequential keys spread over partitions placed round-robin (FNV-1a missed a third)', () => {
    // With 3 places, partition p's primary is place p % 3. FNV-1a put k1..k50 at 31, 0 and 19.
    const perPlace = [0, 0, 0];
    for (let i = 1; i <= 50; i++) perPlace[partitionOfKey(`k${i}`, 271) % 3]!++;
    for (const n of perPlace) expect(n).toBeGreaterThanOrEqual(10);
  });
});
