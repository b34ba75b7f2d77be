import { describe, expect, it } from 'vitest';
import { LeaderLease, Lease } from '../../src/protocol/leadership/Lease.js';
import { Voter } from '../../src/protocol/leadership/Voter.js';
import {
  formTable,
  type Member,
  type MemberState,
  majorityOf,
  type PartitionAssignment,
  type TableData,
  votersOf,
} from '../../src/protocol/table/PartitionTable.js';
import { declareSilent, markDead } from '../../src/protocol/table/tableChanges.js';

function member(id: number, state: MemberState = 'active'): Member {
  return { id, address: `p${id}`, zone: null, pid: id, state };
}

function table(members: Member[], partitions: PartitionAssignment[], voters = 3): TableData {
  return {
    version: 1,
    term: 1,
    formed: true,
    minPlaces: members.length,
    voters,
    valid: true,
    invalidReason: null,
    members,
    partitions,
  };
}

function part(primary: number, backup: number | null, target: number | null = null): PartitionAssignment {
  const state = target !== null ? 'migrating' : backup === null ? 'degraded' : 'ok';
  return { primary, backup, target, epoch: 3, state };
}

/** A formed cluster of n active places, partitions spread by formTable. */
function cluster(n: number, partitions: number): TableData {
  const empty = Array.from({ length: partitions }, () => ({
    primary: null,
    backup: null,
    target: null,
    epoch: 0,
    state: 'lost' as const,
  }));
  return formTable({
    ...table(
      Array.from({ length: n }, (_, id) => member(id)),
      empty,
    ),
    formed: false,
  });
}

/** Five places; 3 and 4 hold both copies of p0 and fall silent together. */
function fivePlaces(): TableData {
  return table(
    [0, 1, 2, 3, 4].map((id) => member(id)),
    [part(3, 4), part(3, 0), part(1, 4), part(1, 2, 3), part(0, 1)],
  );
}

describe('control plane', () => {
  it('the voters are the first live members by id, dead ones skipped, spares included', () => {
    const t = table([member(0), member(1, 'dead'), member(2), member(3, 'spare'), member(4)], [part(0, 2)]);
    expect(votersOf(t).map((m) => m.id)).toEqual([0, 2, 3]);
    expect(votersOf({ ...t, voters: 5 }).map((m) => m.id)).toEqual([0, 2, 3, 4]);
    expect(votersOf({ ...t, voters: 1 }).map((m) => m.id)).toEqual([0]);
  });

  it('a majority of 1..5 voters is 1, 2, 2, 3, 3', () => {
    expect([1, 2, 3, 4, 5].map(majorityOf)).toEqual([1, 2, 2, 3, 3]);
  });

  it('a voter grants only a newer term, or the same candidate again', () => {
    const v = new Voter();
    v.follow(4, 0);
    expect(v.mayGrant(3, 1, 1e9, 100)).toBe(false);
    expect(v.mayGrant(4, 1, 1e9, 100)).toBe(false);
    expect(v.mayGrant(4, 0, 1e9, 100)).toBe(true);
    expect(v.mayGrant(5, 1, 1e9, 100)).toBe(true);
  });

  it('a voter grants no vote within a failure timeout of acknowledging a leader, unless told to ignore it', () => {
    const v = new Voter();
    v.ackedLeader(1000);
    v.ackedLeader(500);
    expect(v.lastLeaderAckAt).toBe(1000);
    expect(v.mayGrant(1, 2, 1099, 100)).toBe(false);
    expect(v.mayGrant(1, 2, 1099, 100, true)).toBe(true);
    expect(v.mayGrant(1, 2, 1100, 100)).toBe(true);
  });

  it('after a vote, another candidate is refused in that term but may get the next one', () => {
    const v = new Voter();
    expect(v.mayGrant(2, 1, 0, 100)).toBe(true);
    v.grant(2, 1);
    expect(v.term).toBe(2);
    expect(v.mayGrant(2, 1, 0, 100)).toBe(true);
    expect(v.mayGrant(2, 3, 0, 100)).toBe(false);
    expect(v.mayGrant(3, 3, 0, 100)).toBe(true);
  });

  it('a voter accepts its term and above, never a lower one', () => {
    const v = new Voter();
    v.grant(5, 1);
    expect(v.accepts(4)).toBe(false);
    expect(v.accepts(5)).toBe(true);
    expect(v.accepts(6)).toBe(true);
  });

  it('a leader heard in the term voted in is followed instead of the candidate, and the term never goes down', () => {
    const v = new Voter();
    v.grant(3, 1);
    v.follow(3, 2);
    expect(v.mayGrant(3, 2, 0, 100)).toBe(true);
    expect(v.mayGrant(3, 1, 0, 100)).toBe(false);
    v.follow(2, 1);
    expect(v.term).toBe(3);
    expect(v.mayGrant(3, 1, 0, 100)).toBe(false);
    v.follow(3, undefined);
    expect(v.mayGrant(3, 2, 0, 100)).toBe(true);
  });

  it('a lease runs from the send time for the shorter of its length and the allowed maximum', () => {
    const l = new Lease(100);
    expect(l.heldAt(0)).toBe(false);
    l.renewFrom(1000, 40);
    expect(l.heldAt(1039)).toBe(true);
    expect(l.heldAt(1040)).toBe(false);
    l.renewFrom(1000, 500);
    expect(l.heldAt(1099)).toBe(true);
    expect(l.heldAt(1100)).toBe(false);
  });

  it('a renewal never shortens a lease, and a revoked lease is gone at once', () => {
    const l = new Lease(100);
    l.renewFrom(1000, 100);
    l.renewFrom(900, 100);
    l.renewFrom(1050, 10);
    expect(l.heldAt(1099)).toBe(true);
    l.revoke();
    expect(l.heldAt(1000)).toBe(false);
    expect(l.heldAt(-1e9)).toBe(false);
  });

  it('with three voters the leader lease ends a length after the freshest other acknowledgement', () => {
    const ll = new LeaderLease(50);
    expect(ll.until(0, [[0, 1, 2]])).toBe(Number.NEGATIVE_INFINITY);
    expect(ll.until(0, [[0]])).toBe(Number.POSITIVE_INFINITY);
    ll.acknowledged(1, 100);
    expect(ll.until(0, [[0, 1, 2]])).toBe(150);
    ll.acknowledged(2, 120);
    ll.acknowledged(2, 80);
    expect(ll.until(0, [[0, 1, 2]])).toBe(170);
  });

  it('with two voter sets the leader lease ends at the earlier of the two majorities', () => {
    const sets = [
      [0, 1, 2],
      [0, 1, 3],
    ];
    const ll = new LeaderLease(50);
    ll.acknowledged(2, 200);
    expect(ll.until(0, sets)).toBe(Number.NEGATIVE_INFINITY);
    ll.acknowledged(1, 100);
    expect(ll.until(0, sets)).toBe(150);
    ll.acknowledged(3, 160);
    expect(ll.until(0, sets)).toBe(210);
    ll.reset();
    expect(ll.until(0, sets)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('a silent place whose partitions all have a live partner is marked dead, its primaries going to backups', () => {
    const t = cluster(3, 12);
    const next = declareSilent(t, [1], []);
    expect(next).toEqual(markDead(t, [1]));
    expect(next.members[1].state).toBe('dead');
    expect(next.valid).toBe(true);
    const led = t.partitions.flatMap((a, p) => (a.primary === 1 ? [p] : []));
    expect(led.length).toBeGreaterThan(0);
    for (const p of led) {
      expect(next.partitions[p]).toMatchObject({
        primary: t.partitions[p].backup,
        backup: null,
        epoch: t.partitions[p].epoch + 1,
      });
    }
  });

  it('two silent places holding both copies of a partition stay members and lose only what a live place can take', () => {
    const t = fivePlaces();
    const next = declareSilent(t, [3, 4], []);
    expect(next.version).toBe(t.version + 1);
    expect(next.members.map((m) => m.state)).toEqual(['active', 'active', 'active', 'active', 'active']);
    expect(next.partitions[0]).toEqual(t.partitions[0]);
    expect(next.partitions[1]).toEqual({
      primary: 0,
      backup: null,
      target: null,
      epoch: 4,
      state: 'degraded',
    });
    expect(next.partitions[2]).toEqual({
      primary: 1,
      backup: null,
      target: null,
      epoch: 3,
      state: 'degraded',
    });
    expect(next.partitions[3]).toEqual({ primary: 1, backup: 2, target: null, epoch: 3, state: 'ok' });
    expect(next.partitions[4]).toEqual(t.partitions[4]);
    expect(next.valid).toBe(true);
    expect(next.invalidReason).toBeNull();
  });

  it('silent places listed as lost are marked dead and the table turns invalid naming the lost partition', () => {
    const t = fivePlaces();
    const next = declareSilent(t, [3, 4], [3, 4]);
    expect(next).toEqual(markDead(t, [3, 4]));
    expect(next.members[3].state).toBe('dead');
    expect(next.members[4].state).toBe('dead');
    expect(next.partitions[0]).toMatchObject({ primary: null, state: 'lost' });
    expect(next.valid).toBe(false);
    expect(next.invalidReason).toMatch(/both copies of partition 0 lost/);
  });

  it('deciding again on dead suspects, no suspects or already demoted places returns the very same table', () => {
    const t = cluster(3, 12);
    expect(declareSilent(t, [], [])).toBe(t);
    const dead = markDead(t, [1]);
    expect(declareSilent(dead, [1], [])).toBe(dead);
    expect(declareSilent(dead, [1], [1])).toBe(dead);
    const held = declareSilent(fivePlaces(), [3, 4], []);
    expect(declareSilent(held, [3, 4], [])).toBe(held);
  });

  it('a silent place holding the last live copy is kept when its partner is lost', () => {
    // 3 is silent past --lost-after-ms, 4 only past the failure timeout: 4 holds the last copy of p0.
    const t = fivePlaces();
    const next = declareSilent(t, [3, 4], [3]);
    expect(next.members[4].state).toBe('active');
    expect(next.partitions[0]).toMatchObject({ primary: 4, backup: null, epoch: 4 });
    expect(next.valid).toBe(true);
  });
});
