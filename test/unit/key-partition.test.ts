import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keySlot, partitionOfKey, partitionOfSlot, SLOTS } from '../../src/protocol/table/keyPartition.js';

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
