import { describe, expect, it } from 'vitest';
import { describeEvent, type PlaceEvent, tableEvents } from '../../src/protocol/events.js';
import type {
  Member,
  MemberState,
  PartitionAssignment,
  TableData,
} from '../../src/protocol/table/PartitionTable.js';
import {
  completeCopy,
  completeHandover,
  markDead,
  planHandovers,
  planRepair,
} from '../../src/protocol/table/tableChanges.js';
import { EventRing } from '../../src/runtime/EventRing.js';

function member(id: number, state: MemberState = 'active'): Member {
  return { id, address: `p${id}:1`, zone: null, pid: id, state };
}

function part(primary: number, backup: number | null, target: number | null = null): PartitionAssignment {
  const state = target !== null ? 'migrating' : backup === null ? 'degraded' : 'ok';
  return { primary, backup, target, epoch: 3, state };
}

function table(members: Member[], partitions: PartitionAssignment[]): TableData {
  return {
    version: 7,
    term: 2,
    formed: true,
    minPlaces: 3,
    voters: 3,
    valid: true,
    invalidReason: null,
    members,
    partitions,
  };
}

const kinds = (es: PlaceEvent[]) => es.map((e) => e.event);

describe('the events of a committed table', () => {
  const before = table(
    [member(0), member(1), member(2), member(3, 'spare')],
    [part(0, 1), part(1, 2), part(2, 0), part(1, 0)],
  );

  it('a death: the dead place, each promotion with its epoch, the spare made a member, one summary first', () => {
    const after = planRepair(markDead(before, [1]));
    const events = tableEvents(before, after, 0);
    expect(events[0]).toEqual({
      event: 'table_committed',
      term: 2,
      version: after.version,
      changes: expect.arrayContaining(['place 1 declared dead', '2 partitions promoted']),
    });
    expect(events).toContainEqual({ event: 'place_dead', id: 1, address: 'p1:1', by: 0, term: 2 });
    expect(events.filter((e) => e.event === 'promoted')).toEqual([
      { event: 'promoted', partition: 1, primary: 2, from: 1, epoch: 4 },
      { event: 'promoted', partition: 3, primary: 0, from: 1, epoch: 4 },
    ]);
    // Who holds what: every promotion names the place the new table makes primary.
    for (const e of events)
      if (e.event === 'promoted') expect(after.partitions[e.partition]!.primary).toBe(e.primary);
  });

  it('a join, a spare made active, copies planned and completed are reported; an unchanged table only commits', () => {
    const joined = { ...before, version: 8, members: [...before.members, member(4, 'spare')] };
    expect(tableEvents(before, joined, 0)).toEqual([
      { event: 'table_committed', term: 2, version: 8, changes: ['place 4 joined as spare'] },
      { event: 'place_joined', id: 4, address: 'p4:1', state: 'spare' },
    ]);
    const copying = table(before.members, [part(0, null, 3), ...before.partitions.slice(1)]);
    const done = completeCopy(copying, 0, 3, 3);
    expect(tableEvents(copying, done, 0)[0]).toMatchObject({ changes: ['1 copies complete'] });
    expect(tableEvents(before, { ...before, version: 8 }, 0)).toEqual([
      { event: 'table_committed', term: 2, version: 8, changes: [] },
    ]);
  });

  it('a handover: begun, then completed with the new epoch', () => {
    // Place 1 leads two partitions and place 2 none: planHandovers moves one to its backup.
    const uneven = table([member(0), member(1), member(2)], [part(1, 2), part(1, 0), part(0, 1)]);
    const planned = planHandovers(uneven);
    const begun = tableEvents(uneven, planned, 0).filter((e) => e.event === 'handover_started');
    expect(begun).toEqual([{ event: 'handover_started', partition: 0, from: 1, to: 2 }]);
    const swapped = completeHandover(planned, 0, 1, 3);
    expect(tableEvents(planned, swapped, 0).filter((e) => e.event !== 'table_committed')).toEqual([
      { event: 'handover', partition: 0, from: 1, to: 2, epoch: 4 },
    ]);
  });

  it('a takeover with a new term says so in its summary', () => {
    const next = { ...planRepair(markDead(before, [0])), term: 3 };
    const events = tableEvents(before, next, 1);
    expect(events[0]).toMatchObject({
      changes: expect.arrayContaining(['term 2 -> 3', 'place 0 declared dead']),
    });
    expect(kinds(events)).toContain('place_dead');
  });

  it('every kind reads as one line of English', () => {
    const all: PlaceEvent[] = [
      { event: 'place_dead', id: 1, address: 'p1:1', by: 0, term: 2 },
      { event: 'takeover', term: 3, leader: 1, replaced: [0] },
      { event: 'copy_finished', partition: 5, to: 3, keys: 10, bytes: 300, durationMs: 12.4 },
      { event: 'lease_lost', reason: 'no answer' },
      { event: 'invalid', reason: 'both copies of partition 3 lost' },
    ];
    expect(all.map(describeEvent)).toEqual([
      'place 1 (p1:1) declared dead by leader 0 in term 2',
      'place 1 took over as leader in term 3, replacing 0',
      'partition 5: copy to place 3 in sync: 10 keys, 300 bytes in 12 ms',
      'lease lost: no answer',
      'the store is invalid: both copies of partition 3 lost',
    ]);
  });
});

describe('the event ring', () => {
  const stamp = (n: number) => ({
    event: 'lease_lost' as const,
    reason: `r${n}`,
    time: 't',
    place: 0,
    origin: 'p0:1',
    msg: `m${n}`,
  });

  it('numbers events from 1, keeps the newest `capacity`, and reads from any number on', () => {
    const ring = new EventRing(3);
    for (let i = 1; i <= 5; i++) expect(ring.push(stamp(i)).seq).toBe(i);
    expect(ring.next).toBe(6);
    // 1 and 2 were dropped for 4 and 5.
    expect(ring.since(1).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(ring.since(4).map((e) => e.seq)).toEqual([4, 5]);
    expect(ring.since(6)).toEqual([]);
    expect(ring.since(99)).toEqual([]);
    expect(ring.since(1, 2).map((e) => e.seq)).toEqual([3, 4]);
  });

  it('tells a reader what to ask for next, never past the next event (a reader ahead of a restarted ring)', () => {
    const ring = new EventRing(10);
    for (let i = 1; i <= 5; i++) ring.push(stamp(i));
    expect(ring.read(3, 2)).toMatchObject({ boot: ring.boot, next: 5 });
    expect(ring.read(3, 2).events.map((e) => e.seq)).toEqual([3, 4]);
    expect(ring.read(99, 10)).toEqual({ boot: ring.boot, next: 6, events: [] });
    expect(ring.read(0, 10).next).toBe(6);
  });

  it('refuses a capacity that is not a positive whole number', () => {
    expect(() => new EventRing(0)).toThrow(RangeError);
  });
});

describe('events of a cut between a primary and its backup', () => {
  it('a backup dropped while both live is reported with both places', async () => {
    const { dropUnreachable } = await import('../../src/protocol/table/tableChanges.js');
    const before = table([member(0), member(1), member(2)], [part(0, 1), part(1, 2), part(2, 0)]);
    const after = dropUnreachable(before, 0, 1);
    const events = tableEvents(before, after, 0);
    expect(events.filter((e) => e.event === 'backup_dropped')).toEqual([
      { event: 'backup_dropped', partition: 0, primary: 0, backup: 1 },
    ]);
    expect(events[0]).toMatchObject({
      changes: expect.arrayContaining([expect.stringMatching(/^1 backups dropped/)]),
    });
  });
});
