import { partitionOfKey } from './keyPartition.js';

export type PartitionState = 'ok' | 'degraded' | 'migrating' | 'lost';
export type MemberState = 'active' | 'spare' | 'dead';

/** One place as the table knows it. */
export interface Member {
  id: number;
  address: string;
  zone: string | null;
  pid: number;
  state: MemberState;
  /** Where the place serves HTTP (metrics, dashboard), when it does. */
  http?: string;
  /** Where the place serves RESP (the Redis door), when it does. */
  resp?: string;
}

/** Who holds one partition, at which epoch, in which state. */
export interface PartitionAssignment {
  primary: number | null;
  backup: number | null;
  /** The place a whole-partition copy is going to; it becomes the backup once the copy is complete. */
  target: number | null;
  /** Grows with every change of primary; a backup refuses replication from an older epoch. */
  epoch: number;
  state: PartitionState;
}

/** The replicated cluster view; every change makes a new version. */
export interface TableData {
  version: number;
  /** Leadership term: grows each time a deputy takes over, so a deposed leader's tables lose. */
  term: number;
  /** False until minPlaces active places have joined and partitions are assigned. */
  formed: boolean;
  minPlaces: number;
  /** How many places vote on the control plane: the first this many live members by id (votersOf). */
  voters: number;
  valid: boolean;
  invalidReason: string | null;
  /** Sorted by id; ids grow as places join, so the minimum live id is the oldest place. */
  members: Member[];
  partitions: PartitionAssignment[];
  /**
   * The id the next place to join gets, once dead members were pruned from the list (ids are never
   * used twice); absent until then.
   */
  nextId?: number;
}

/** The id the next place to join gets: past every member's, and past every pruned one's. */
export function nextMemberId(t: TableData): number {
  let id = t.nextId ?? 0;
  for (const m of t.members) id = Math.max(id, m.id + 1);
  return id;
}

/** Returns the table of a cluster of one bootstrapping place. */
export function bootstrapTable(
  first: Member,
  partitionCount: number,
  minPlaces: number,
  voters: number,
): TableData {
  const partitions: PartitionAssignment[] = [];
  for (let i = 0; i < partitionCount; i++) {
    partitions.push({ primary: null, backup: null, target: null, epoch: 0, state: 'lost' });
  }
  const table: TableData = {
    version: 1,
    term: 1,
    formed: false,
    minPlaces,
    voters,
    valid: true,
    invalidReason: null,
    members: [first],
    partitions,
  };
  return minPlaces <= 1 ? formTable(table) : table;
}

/** Assigns every partition over the active members, balanced and zone-aware, and marks the table formed (same version). */
export function formTable(table: TableData): TableData {
  const active = table.members.filter((m) => m.state === 'active');
  const assigned = assignPartitions(active, table.partitions.length);
  const partitions = assigned.map((a, i) => ({
    ...a,
    epoch: (table.partitions[i]?.epoch ?? 0) + 1,
  }));
  return { ...table, formed: true, partitions };
}

/**
 * Places partitions on members: primaries round-robin (counts differ by at most one), each backup on
 * the least-loaded other member, preferring one in another zone whenever another zone has a member.
 */
export function assignPartitions(active: readonly Member[], partitionCount: number): PartitionAssignment[] {
  const out: PartitionAssignment[] = [];
  const n = active.length;
  if (n === 0) {
    for (let i = 0; i < partitionCount; i++) {
      out.push({ primary: null, backup: null, target: null, epoch: 0, state: 'lost' });
    }
    return out;
  }
  const backups = new Array<number>(n).fill(0);
  for (let p = 0; p < partitionCount; p++) {
    const pi = p % n;
    const primary = active[pi]!;
    let best = -1;
    let bestOtherZone = false;
    for (let step = 1; step < n; step++) {
      const ci = (pi + step) % n;
      const otherZone = primary.zone === null || active[ci]!.zone !== primary.zone;
      if (
        best === -1 ||
        (otherZone && !bestOtherZone) ||
        (otherZone === bestOtherZone && backups[ci]! < backups[best]!)
      ) {
        best = ci;
        bestOtherZone = otherZone;
      }
    }
    if (best === -1) {
      out.push({ primary: primary.id, backup: null, target: null, epoch: 0, state: 'degraded' });
    } else {
      backups[best]!++;
      out.push({ primary: primary.id, backup: active[best]!.id, target: null, epoch: 0, state: 'ok' });
    }
  }
  return out;
}

/** Read-only view over a TableData with the lookups routing needs. */
export class PartitionTable {
  private readonly byId = new Map<number, Member>();

  constructor(readonly data: TableData) {
    for (const m of data.members) this.byId.set(m.id, m);
  }

  get version(): number {
    return this.data.version;
  }

  /** Returns the member with this id, or undefined. */
  member(id: number | null): Member | undefined {
    return id === null ? undefined : this.byId.get(id);
  }

  /** True when a member (in any state) is at address; asked for every message from a place. */
  lists(address: string): boolean {
    this.addresses ??= new Set(this.data.members.map((m) => m.address));
    return this.addresses.has(address);
  }

  private addresses: Set<string> | undefined;

  /** Returns the live member at this address, else the newest dead one, else undefined. */
  memberAt(address: string): Member | undefined {
    let found: Member | undefined;
    for (const m of this.data.members) {
      if (m.address !== address) continue;
      if (m.state !== 'dead') return m;
      found = m;
    }
    return found;
  }

  /** Returns the partition of a key. */
  partitionOf(key: string): number {
    return partitionOfKey(key, this.data.partitions.length);
  }

  /** Returns the address of a partition's primary, or null when it has none. */
  primaryAddress(partition: number): string | null {
    return this.member(this.data.partitions[partition]?.primary ?? null)?.address ?? null;
  }

  /** The leader: the live member with the minimum id. */
  get leader(): Member | undefined {
    return leaderOf(this.data);
  }

  /** The deputy: the next live member after the leader, who takes over when the leader dies. */
  get deputy(): Member | undefined {
    return deputyOf(this.data);
  }
}

/** True when a is a later table than b: a newer leadership term, or the same term and a newer version. */
export function isNewer(a: TableData, b: TableData): boolean {
  return a.term > b.term || (a.term === b.term && a.version > b.version);
}

/** Returns the live member with the minimum id. */
export function leaderOf(table: TableData): Member | undefined {
  for (const m of table.members) if (m.state !== 'dead') return m;
  return undefined;
}

/**
 * The voters of a table: its first `voters` live members by id, the leader first and the deputy
 * second. Table changes, leadership and the leader's lease need a majority of them (docs/control-plane.md).
 */
export function votersOf(table: TableData): Member[] {
  const out: Member[] = [];
  for (const m of table.members) {
    if (out.length >= table.voters) break;
    if (m.state !== 'dead') out.push(m);
  }
  return out;
}

/** How many of n voters make a majority. */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Returns the deputy: the next live member by id after the leader (so it is also the next leader). */
export function deputyOf(table: TableData): Member | undefined {
  const leader = leaderOf(table);
  if (!leader) return undefined;
  for (const m of table.members) if (m.id > leader.id && m.state !== 'dead') return m;
  return undefined;
}

/** Counts the primaries and backups each member holds. */
export function roleCounts(table: TableData): Map<number, { primaries: number; backups: number }> {
  const counts = new Map<number, { primaries: number; backups: number }>();
  for (const m of table.members) counts.set(m.id, { primaries: 0, backups: 0 });
  for (const p of table.partitions) {
    if (p.primary !== null) {
      const c = counts.get(p.primary);
      if (c) c.primaries++;
    }
    if (p.backup !== null) {
      const c = counts.get(p.backup);
      if (c) c.backups++;
    }
  }
  return counts;
}
