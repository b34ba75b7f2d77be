import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formTable, type Member, type TableData } from '../../src/protocol/table/PartitionTable.js';
import {
  completeCopy,
  completeHandover,
  declareSilent,
  markDead,
  planHandovers,
  planRepair,
} from '../../src/protocol/table/tableChanges.js';

function cluster(active: number, spares: number, partitions: number): TableData {
  const members: Member[] = Array.from({ length: active + spares }, (_, id) => ({
    id,
    address: `p${id}`,
    zone: null,
    pid: id,
    state: id < active ? 'active' : 'spare',
  }));
  const partitionsList = Array.from({ length: partitions }, () => ({
    primary: null,
    backup: null,
    target: null,
    epoch: 0,
    state: 'lost' as const,
  }));
  return formTable({
    version: 1,
    term: 1,
    formed: false,
    minPlaces: active,
    voters: 3,
    valid: true,
    invalidReason: null,
    members,
    partitions: partitionsList,
  });
}

/** Completes every copy and handover the table asks for, as the places would. */
function settle(t: TableData): TableData {
  for (let round = 0; round < 1000; round++) {
    let next = t;
    next.partitions.forEach((a, p) => {
      if (a.target === null) return;
      next =
        a.target === a.backup
          ? completeHandover(next, p, a.primary!, a.epoch)
          : completeCopy(next, p, a.target, a.epoch);
    });
    next = planHandovers(next);
    if (next === t) return t;
    t = next;
  }
  throw new Error('did not settle');
}

function primaryCounts(t: TableData): number[] {
  return t.members
    .filter((m) => m.state === 'active')
    .map((m) => t.partitions.filter((a) => a.primary === m.id).length);
}

describe('table changes on failure', () => {
  it('promotes the backups of a dead primary with a new epoch, and copies to the spare', () => {
    const t = cluster(3, 1, 30);
    const dead = markDead(t, [1]);
    for (const [p, a] of dead.partitions.entries()) {
      const before = t.partitions[p];
      if (before.primary === 1) {
        expect(a).toMatchObject({
          primary: before.backup,
          backup: null,
          epoch: before.epoch + 1,
          state: 'degraded',
        });
      }
      if (before.backup === 1)
        expect(a).toMatchObject({ primary: before.primary, backup: null, epoch: before.epoch });
    }
    const repaired = planRepair(dead);
    expect(repaired.members[3].state).toBe('active');
    expect(repaired.partitions.filter((a) => a.state === 'migrating').every((a) => a.target === 3)).toBe(
      true,
    );
  });

  it('a silent place kept as a member (it holds a last copy) is given no copy: its backups go elsewhere and stay there', () => {
    // Partition p: primary 0, no backup, a copy under way to 1. Place 0 falls silent: it holds the
    // last complete copy, so it stays a member, and its backup roles are taken off it.
    let t = settle(planRepair(cluster(4, 0, 12)));
    const last = t.partitions.findIndex((a) => a.primary === 0);
    t = {
      ...t,
      partitions: t.partitions.map((a, i) =>
        i === last ? { ...a, backup: null, target: 1, state: 'migrating' as const } : a,
      ),
    };
    const backedBy0 = t.partitions.flatMap((a, i) => (a.backup === 0 ? [i] : []));
    expect(backedBy0.length).toBeGreaterThan(0);
    let next = t;
    for (let look = 0; look < 3; look++) next = planRepair(declareSilent(next, [0], []), [0]);
    expect(next.members.find((m) => m.id === 0)?.state).toBe('active');
    for (const i of backedBy0) {
      expect(next.partitions[i]!.backup).toBeNull();
      expect([null, 0]).not.toContain(next.partitions[i]!.target);
    }
    // Each later look changes nothing: no target taken off and given back, over and over.
    expect(planRepair(declareSilent(next, [0], []), [0])).toBe(next);
  });

  it('a partition with no copy left makes the table invalid, naming the partitions', () => {
    const t = markDead(cluster(3, 0, 12), [0]);
    const worse = markDead(t, [1]);
    expect(worse.valid).toBe(false);
    expect(worse.invalidReason).toMatch(/both copies of \d+ partitions .* lost/);
  });

  it('after any one failure and repair, primaries end up balanced: within one with a spare, two without', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 7 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 16, max: 400 }),
        fc.nat(),
        (active, spares, partitions, pick) => {
          const dead = pick % active;
          const t = settle(planRepair(markDead(cluster(active, spares, partitions), [dead])));
          expect(t.valid).toBe(true);
          expect(
            t.partitions.every(
              (a) => a.state === 'ok' && a.primary !== a.backup && a.primary !== dead && a.backup !== dead,
            ),
          ).toBe(true);
          // A spare takes its share exactly; survivors alone can only swap with their own backups.
          const counts = primaryCounts(t);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(spares > 0 ? 1 : 2);
          // Every handover swapped a primary with its own backup: the pair of places holding a partition only changes through copies.
          expect(t.partitions.every((a) => a.epoch >= 1)).toBe(true);
        },
      ),
    );
  });

  it('a handover is abandoned when its backup dies, and taken over when its primary dies', () => {
    const t = settle(planRepair(markDead(cluster(3, 1, 30), [2])));
    const handing = planHandovers({
      ...t,
      partitions: t.partitions.map((a, i) => (i === 0 ? { ...a, primary: 0, backup: 1 } : a)),
    });
    const p = handing.partitions.findIndex((a) => a.target !== null);
    if (p < 0) return;
    const a = handing.partitions[p];
    const backupDied = markDead(handing, [a.backup!]);
    expect(backupDied.partitions[p]).toMatchObject({ primary: a.primary, backup: null, target: null });
    const primaryDied = markDead(handing, [a.primary!]);
    expect(primaryDied.partitions[p]).toMatchObject({ primary: a.backup, target: null, epoch: a.epoch + 1 });
  });
});
