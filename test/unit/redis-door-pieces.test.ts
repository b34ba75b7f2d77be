import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { REDIS_PROCESSORS } from '../../src/protocol/requests/redisProcessors.js';
import { partitionOfSlot, SLOTS } from '../../src/protocol/table/keyPartition.js';
import type { TableData } from '../../src/protocol/table/PartitionTable.js';
import {
  clusterInfo,
  clusterNodes,
  firstSlotOf,
  lastSlotOf,
  slotRanges,
} from '../../src/redis/clusterTopology.js';
import { bulkOfStored, packRedisString } from '../../src/redis/redisValues.js';

const packr = new Packr({ useRecords: false });

describe('slots to partitions, as CLUSTER SLOTS reports them', () => {
  it('each partition owns exactly the slots partitionOfSlot maps to it, for any partition count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: SLOTS }),
        fc.integer({ min: 0, max: SLOTS - 1 }),
        (count, slot) => {
          const p = partitionOfSlot(slot, count);
          expect(firstSlotOf(p, count)).toBeLessThanOrEqual(slot);
          expect(lastSlotOf(p, count)).toBeGreaterThanOrEqual(slot);
        },
      ),
    );
    for (const count of [1, 3, 271, 1000, SLOTS]) {
      expect(firstSlotOf(0, count)).toBe(0);
      expect(lastSlotOf(count - 1, count)).toBe(SLOTS - 1);
      for (let p = 1; p < count; p++) expect(firstSlotOf(p, count)).toBe(lastSlotOf(p - 1, count) + 1);
    }
  });

  const table = (count: number, primaryOf: (p: number) => number | null): TableData => ({
    version: 7,
    term: 2,
    formed: true,
    minPlaces: 3,
    voters: 3,
    valid: true,
    invalidReason: null,
    members: [0, 1, 2].map((id) => ({
      id,
      address: `127.0.0.1:${7000 + id}`,
      resp: `127.0.0.1:${8000 + id}`,
      zone: null,
      pid: id,
      state: 'active' as const,
    })),
    partitions: Array.from({ length: count }, (_, p) => ({
      primary: primaryOf(p),
      backup: primaryOf(p) === null ? null : (primaryOf(p)! + 1) % 3,
      target: null,
      epoch: 1,
      state: 'ok' as const,
    })),
  });

  it('ranges cover every slot once and merge neighbouring partitions with the same primary and backup', () => {
    const t = table(10, (p) => (p < 5 ? 0 : 1));
    const ranges = slotRanges(t);
    expect(ranges.map((r) => [r.start, r.end, r.primary?.id, r.backup?.id])).toEqual([
      [0, lastSlotOf(4, 10), 0, 1],
      [firstSlotOf(5, 10), SLOTS - 1, 1, 2],
    ]);
    expect(clusterInfo(t, null)).toContain('cluster_state:ok');
    const nodes = clusterNodes(t, 1).trim().split('\n');
    expect(nodes).toHaveLength(3);
    expect(nodes[1]).toMatch(/^[0-9a-f]{40} 127\.0\.0\.1:8001@0 myself,master - 0 0 2 connected \d+-16383$/);
    // A place with no slots is listed without any.
    expect(nodes[2]).toMatch(/master - 0 0 2 connected$/);
  });

  it('a partition without a primary leaves its slots unserved and the cluster state fail', () => {
    const t = table(4, (p) => (p === 2 ? null : 0));
    expect(clusterInfo(t, null)).toContain('cluster_state:fail');
    expect(clusterInfo(t, null)).toContain(`cluster_slots_fail:${lastSlotOf(2, 4) - firstSlotOf(2, 4) + 1}`);
    expect(
      clusterInfo(
        table(4, () => 0),
        'both copies of partition 3 are gone',
      ),
    ).toContain('cluster_state:fail');
  });
});

describe('Redis strings as stored values', () => {
  it('UTF-8 bytes are stored as a MessagePack string, others as bytes, and read back unchanged', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (raw) => {
        const bytes = Buffer.from(raw);
        const packed = packRedisString(bytes);
        const decoded = packr.unpack(packed) as unknown;
        if (Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes))
          expect(decoded).toBe(bytes.toString('utf8'));
        else expect(Buffer.from(decoded as Uint8Array).equals(bytes)).toBe(true);
        const bulk = bulkOfStored(packed.toString('latin1'))!;
        expect(
          bulk.equals(Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')])),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('values the native client stored read as theirs when strings or bytes, and as no Redis string otherwise', () => {
    expect(bulkOfStored(packr.pack('héllo').toString('latin1'))!.toString()).toBe('$6\r\nhéllo\r\n');
    expect(bulkOfStored(packr.pack(Buffer.from([0xff, 0])).toString('latin1'))!.length).toBe(2 + 4 + 2);
    for (const v of [42, { a: 1 }, [1, 2], true, null])
      expect(bulkOfStored(packr.pack(v).toString('latin1'))).toBe(null);
  });
});

describe("the Redis door's processors", () => {
  const {
    'redis.set': set,
    'redis.incrby': incrby,
    'redis.append': append,
    'redis.del': del,
  } = REDIS_PROCESSORS;

  it('SET NX, XX, GET and IFEQ set only when their condition holds, and GET returns the old value', () => {
    expect(set!(undefined, { v: 'a', only: 'nx' }, 'k')).toEqual({ value: 'a', result: [true, null] });
    expect(set!('x', { v: 'a', only: 'nx' }, 'k')).toEqual({ result: [false, null] });
    expect(set!(undefined, { v: 'a', only: 'xx' }, 'k')).toEqual({ result: [false, null] });
    expect(set!('x', { v: 'a', only: 'xx', get: true }, 'k')).toEqual({ value: 'a', result: [true, 'x'] });
    expect(set!('x', { v: 'a', ifeq: 'x' }, 'k')).toEqual({ value: 'a', result: [true, null] });
    expect(set!('y', { v: 'a', ifeq: 'x' }, 'k')).toEqual({ result: [false, null] });
    // IFEQ never creates a key.
    expect(set!(undefined, { v: 'a', ifeq: 'x' }, 'k')).toEqual({ result: [false, null] });
    expect(set!(Buffer.from([0xff]), { v: 'a', ifeq: new Uint8Array([0xff]) }, 'k').result).toEqual([
      true,
      null,
    ]);
    // With GET the old value must be a string; without it, any value is overwritten.
    expect(() => set!(42, { v: 'a', get: true }, 'k')).toThrow(/^WRONGTYPE/);
    expect(set!(42, { v: 'a', only: 'xx' }, 'k')).toEqual({ value: 'a', result: [true, null] });
  });

  it('INCRBY adds to integers written as text or kept as numbers, and refuses anything else', () => {
    expect(incrby!(undefined, '5', 'k')).toEqual({ value: '5', result: '5' });
    expect(incrby!('10', '-3', 'k')).toEqual({ value: '7', result: '7' });
    expect(incrby!(10, '1', 'k')).toEqual({ value: 11, result: '11' });
    expect(incrby!(Buffer.from('41'), '1', 'k').result).toBe('42');
    for (const bad of ['1.5', ' 1', '01', '+1', 'abc', '', '99999999999999999999'])
      expect(() => incrby!(bad, '1', 'k')).toThrow('ERR value is not an integer or out of range');
    expect(() => incrby!('9223372036854775807', '1', 'k')).toThrow(
      'ERR increment or decrement would overflow',
    );
    expect(incrby!('9223372036854775806', '1', 'k').result).toBe('9223372036854775807');
    expect(() => incrby!({ n: 1 }, '1', 'k')).toThrow(/^WRONGTYPE/);
  });

  it('APPEND joins bytes and keeps text as text; DEL deletes any value and says whether there was one', () => {
    expect(append!(undefined, 'ab', 'k')).toEqual({ value: 'ab', result: 2 });
    expect(append!('é', 'x', 'k')).toEqual({ value: 'éx', result: 3 });
    const half = append!(Buffer.from([0xc3]), Buffer.from([0xa9]), 'k');
    expect(half).toEqual({ value: 'é', result: 2 });
    expect(Buffer.isBuffer(append!('a', Buffer.from([0xff]), 'k').value)).toBe(true);
    expect(() => append!([1], 'x', 'k')).toThrow(/^WRONGTYPE/);
    expect(del!(undefined, null, 'k')).toEqual({ result: 0 });
    expect(del!({ any: 1 }, null, 'k')).toEqual({ delete: true, result: 1 });
  });
});
