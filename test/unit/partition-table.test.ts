import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignPartitions,
  deputyOf,
  leaderOf,
  type Member,
  roleCounts,
} from '../../src/protocol/table/PartitionTable.js';

function members(n: number, zones: string[] = []): Member[] {
  return Array.from({ length: n }, (_, id) => ({
    id,
    address: `p${id}`,
    zone: zones.length > 0 ? zones[id % zones.length] : null,
    pid: id,
    state: 'active' as const,
  }));
}

function spread(values: number[]): number {
  return Math.max(...values) - Math.min(...values);
}

describe('partition table computation', () => {
  it('puts primary and backup on different places, with counts balanced within one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 600 }), (n, partitions) => {
        const ms = members(n);
        const table = assignPartitions(ms, partitions);
        for (const p of table) {
          expect(p.primary).not.toBeNull();
          expect(p.backup).not.toBeNull();
          expect(p.primary).not.toBe(p.backup);
        }
        const primaries = ms.map((m) => table.filter((p) => p.primary === m.id).length);
        const backups = ms.map((m) => table.filter((p) => p.backup === m.id).length);
        expect(spread(primaries)).toBeLessThanOrEqual(1);
        expect(spread(backups)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('never puts a backup in its primary zone while another zone has a place', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 1, max: 400 }),
        (n, zoneCount, partitions) => {
          const zones = Array.from({ length: zoneCount }, (_, i) => `z${i}`);
          const ms = members(n, zones);
          const zoneOf = new Map(ms.map((m) => [m.id, m.zone]));
          for (const p of assignPartitions(ms, partitions)) {
            expect(p.backup).not.toBeNull();
            expect(zoneOf.get(p.backup!)).not.toBe(zoneOf.get(p.primary!));
          }
        },
      ),
    );
  });

  it('balances evenly across zones of equal size', () => {
    const ms = members(6, ['a', 'b', 'c']);
    const table = assignPartitions(ms, 271);
    const primaries = ms.map((m) => table.filter((p) => p.primary === m.id).length);
    const backups = ms.map((m) => table.filter((p) => p.backup === m.id).length);
    expect(spread(primaries)).toBeLessThanOrEqual(1);
    expect(spread(backups)).toBeLessThanOrEqual(1);
  });

  it('falls back to a same-zone backup when only one zone has places', () => {
    const ms = members(3, ['a']);
    for (const p of assignPartitions(ms, 50)) expect(p.backup).not.toBe(p.primary);
  });

  it('leaves partitions degraded with a single place', () => {
    const table = assignPartitions(members(1), 10);
    expect(table.every((p) => p.primary === 0 && p.backup === null && p.state === 'degraded')).toBe(true);
  });

  it('leader is the minimum live id and deputy the next live member, spare or not', () => {
    const ms = members(4);
    ms[1].state = 'spare';
    const table = {
      version: 1,
      term: 1,
      formed: true,
      minPlaces: 2,
      voters: 3,
      valid: true,
      invalidReason: null,
      members: ms,
      partitions: assignPartitions(
        ms.filter((m) => m.state === 'active'),
        8,
      ),
    };
    expect(leaderOf(table)?.id).toBe(0);
    expect(deputyOf(table)?.id).toBe(1);
    ms[0].state = 'dead';
    expect(leaderOf(table)?.id).toBe(1);
    expect(deputyOf(table)?.id).toBe(2);
    ms[2].state = 'dead';
    expect(deputyOf(table)?.id).toBe(3);
    const counts = roleCounts(table);
    expect([...counts.values()].reduce((s, c) => s + c.primaries, 0)).toBe(8);
  });
});
