import { type Member, nextMemberId, type PartitionAssignment, type TableData } from './PartitionTable.js';

/** Copies a table for a change: new version, fresh member and partition objects. */
function nextVersion(t: TableData): TableData {
  return {
    ...t,
    version: t.version + 1,
    members: t.members.map((m) => ({ ...m })),
    partitions: t.partitions.map((p) => ({ ...p })),
  };
}

/** Returns the state a partition's holders imply. */
function stateOf(a: PartitionAssignment): PartitionAssignment['state'] {
  if (a.primary === null) return 'lost';
  if (a.target !== null) return 'migrating';
  return a.backup === null ? 'degraded' : 'ok';
}

/**
 * Marks places dead: each partition whose primary died is taken over by its backup (the epoch grows,
 * fencing the old primary); one whose backup or copy target died loses it. A partition left with no
 * copy is lost, and a table with a lost partition is invalid.
 */
export function markDead(t: TableData, dead: readonly number[]): TableData {
  const next = nextVersion(t);
  const gone = new Set(dead);
  for (const m of next.members) if (gone.has(m.id)) m.state = 'dead';
  const lost: number[] = [];
  next.partitions.forEach((a, p) => {
    if (a.target !== null && gone.has(a.target)) a.target = null;
    if (a.backup !== null && gone.has(a.backup)) a.backup = null;
    if (a.primary !== null && gone.has(a.primary)) {
      // A copy in progress is incomplete: only a full backup may take over.
      a.primary = a.backup;
      a.backup = null;
      a.target = null;
      a.epoch++;
      if (a.primary === null) lost.push(p);
    }
    a.state = stateOf(a);
  });
  if (lost.length > 0 && next.valid) {
    next.valid = false;
    next.invalidReason =
      `both copies of ${lost.length === 1 ? 'partition' : `${lost.length} partitions`} ` +
      `${lost.slice(0, 10).join(', ')}${lost.length > 10 ? ', ...' : ''} lost when place(s) ${dead.join(', ')} died`;
  }
  return next;
}

/** Starts a new leadership term (won by votes): the old leader's tables lose to it. */
export function newTerm(t: TableData, term: number): TableData {
  return { ...nextVersion(t), term };
}

/**
 * The leader's answer to places silent past the failure timeout. Each is marked dead (markDead),
 * unless that would leave a partition with no copy: a place holding a last copy may be cut off rather
 * than dead, so it stays a member, loses only the roles another live place can take (its primaries
 * go to their backups, epoch up; its backups and copy targets are dropped), and its last copies wait
 * for it. Places in `lost` (silent much longer) are marked dead whatever they hold: a partition with
 * no copy left makes the store invalid. Returns the same table when there is nothing to do.
 */
export function declareSilent(t: TableData, silent: readonly number[], lost: readonly number[]): TableData {
  const alive = new Set(t.members.filter((m) => m.state !== 'dead').map((m) => m.id));
  const suspect = new Set(silent.filter((id) => alive.has(id)));
  if (suspect.size === 0) return t;
  const forced = new Set(lost);
  const held = new Set<number>();
  // A partition whose every complete copy is on a silent place: those not yet lost are kept.
  for (const a of t.partitions) {
    if (a.primary === null) continue;
    const holders = a.backup === null ? [a.primary] : [a.primary, a.backup];
    if (!holders.every((h) => suspect.has(h))) continue;
    for (const h of holders) if (!forced.has(h)) held.add(h);
  }
  const dead = [...suspect].filter((id) => !held.has(id) || forced.has(id));
  let next = dead.length > 0 ? markDead(t, dead) : t;
  if (held.size === 0) return next;
  let changed = false;
  const out = nextVersion(next);
  for (const a of out.partitions) {
    if (a.target !== null && held.has(a.target)) {
      a.target = null;
      changed = true;
    }
    if (a.primary === null) continue;
    if (held.has(a.primary) && a.backup !== null && !held.has(a.backup)) {
      a.primary = a.backup;
      a.backup = null;
      a.target = null;
      a.epoch++;
      changed = true;
    } else if (a.backup !== null && held.has(a.backup) && !held.has(a.primary)) {
      a.backup = null;
      changed = true;
    }
    a.state = stateOf(a);
  }
  if (changed) next = out;
  return next;
}

/**
 * Restores redundancy: every partition with a primary but no backup or copy target gets a target.
 * A spare is put to work first (it takes over the dead place's roles); with none left, the
 * survivors share the work, least loaded first, never in the primary's zone when another zone has
 * a live active place. Never to a place in `avoid` (silent ones kept as members: a copy to them
 * could not complete, and would be taken off again at the next look). Returns the same table when
 * there is nothing to do.
 */
export function planRepair(t: TableData, avoid: readonly number[] = []): TableData {
  const needy = t.partitions.flatMap((a, p) =>
    a.primary !== null && a.backup === null && a.target === null ? [p] : [],
  );
  if (needy.length === 0 || !t.valid) return t;
  const next = nextVersion(t);
  const spare = next.members.find((m) => m.state === 'spare');
  if (spare !== undefined) spare.state = 'active';
  const active = next.members.filter((m) => m.state === 'active');
  if (active.length < 2) return spare !== undefined ? next : t;
  const load = new Map<number, number>(active.map((m) => [m.id, 0]));
  for (const a of next.partitions) {
    for (const id of [a.backup, a.target]) if (id !== null && load.has(id)) load.set(id, load.get(id)! + 1);
  }
  const byId = new Map<number, Member>(active.map((m) => [m.id, m]));
  for (const p of needy) {
    const a = next.partitions[p]!;
    const primaryZone = byId.get(a.primary!)?.zone ?? null;
    let best: Member | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const m of active) {
      if (m.id === a.primary || avoid.includes(m.id)) continue;
      // Other zone first, then the fresh spare, then the least loaded.
      const sameZone = primaryZone !== null && m.zone === primaryZone ? 1 : 0;
      const score = sameZone * 1e9 + (m.id === spare?.id ? 0 : 1e6) + load.get(m.id)!;
      if (score < bestScore) {
        best = m;
        bestScore = score;
      }
    }
    if (best === undefined) continue;
    a.target = best.id;
    a.state = 'migrating';
    load.set(best.id, load.get(best.id)! + 1);
  }
  return next;
}

/** Makes a completed copy the partition's backup. Returns the same table if the copy is no longer wanted. */
export function completeCopy(t: TableData, partition: number, target: number, epoch: number): TableData {
  const a = t.partitions[partition];
  if (a === undefined || a.target !== target || a.epoch !== epoch || handingOver(a)) return t;
  const next = nextVersion(t);
  const b = next.partitions[partition]!;
  b.backup = target;
  b.target = null;
  b.state = stateOf(b);
  return next;
}

/**
 * Evens out primaries after a repair: while one active place has at least two primaries more than
 * another, a partition led by the first and backed by the second is marked to hand its primary role
 * over to its backup (state migrating, target = the backup). Only on a fully repaired table.
 */
export function planHandovers(t: TableData): TableData {
  if (!t.valid || !t.formed || t.partitions.some((a) => a.state !== 'ok')) return t;
  const active = t.members.filter((m) => m.state === 'active').map((m) => m.id);
  const count = new Map<number, number>(active.map((id) => [id, 0]));
  for (const a of t.partitions)
    if (a.primary !== null && count.has(a.primary)) count.set(a.primary, count.get(a.primary)! + 1);
  const moves: number[] = [];
  const moved = new Set<number>();
  for (let guard = 0; guard < t.partitions.length; guard++) {
    const byLoad = [...count].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    let found = -1;
    for (const [from, fromCount] of byLoad) {
      for (let i = byLoad.length - 1; i >= 0 && found < 0; i--) {
        const [to, toCount] = byLoad[i]!;
        if (fromCount - toCount < 2) break;
        found = t.partitions.findIndex((a, p) => !moved.has(p) && a.primary === from && a.backup === to);
        if (found >= 0) {
          count.set(from, fromCount - 1);
          count.set(to, toCount + 1);
        }
      }
      if (found >= 0) break;
    }
    if (found < 0) break;
    moved.add(found);
    moves.push(found);
  }
  if (moves.length === 0) return t;
  const next = nextVersion(t);
  for (const p of moves) {
    const a = next.partitions[p]!;
    a.target = a.backup;
    a.state = 'migrating';
  }
  return next;
}

/** True when a partition's primary role is being handed over to its backup. */
export function handingOver(a: PartitionAssignment): boolean {
  return a.target !== null && a.target === a.backup;
}

/**
 * Swaps primary and backup once the old primary has stopped answering and its backup holds every
 * write it answered; the epoch grows, fencing the old primary. Same table if no longer wanted.
 */
export function completeHandover(t: TableData, partition: number, from: number, epoch: number): TableData {
  const a = t.partitions[partition];
  if (a === undefined || a.primary !== from || !handingOver(a) || a.epoch !== epoch) return t;
  const next = nextVersion(t);
  const b = next.partitions[partition]!;
  b.primary = a.backup;
  b.backup = from;
  b.target = null;
  b.epoch = a.epoch + 1;
  b.state = 'ok';
  return next;
}

/**
 * A primary cannot reach a place that holds copies of its partitions (the link between them is cut,
 * though the leader hears both): that place stops being the backup or copy target of the primary's
 * partitions, which go on with one copy until repaired. Same table when there is nothing to drop.
 */
export function dropUnreachable(t: TableData, primary: number, peer: number): TableData {
  if (!t.partitions.some((a) => a.primary === primary && (a.backup === peer || a.target === peer))) return t;
  const next = nextVersion(t);
  for (const a of next.partitions) {
    if (a.primary !== primary) continue;
    if (a.backup === peer) {
      a.backup = null;
      // A handover to that place cannot complete either.
      if (a.target === peer) a.target = null;
    }
    if (a.target === peer) a.target = null;
    a.state = stateOf(a);
  }
  return next;
}

/**
 * Leader: past `keep` dead members, the oldest ones that no partition names leave the list (it
 * would grow with every respawn otherwise); the table remembers the next id, so none is used twice.
 * Returns t itself when there is nothing to prune.
 */
export function pruneDead(t: TableData, keep: number): TableData {
  const dead = t.members.filter((m) => m.state === 'dead');
  if (dead.length <= keep) return t;
  const named = new Set<number>();
  for (const a of t.partitions)
    for (const id of [a.primary, a.backup, a.target]) if (id !== null) named.add(id);
  const gone = new Set(
    dead
      .filter((m) => !named.has(m.id))
      .slice(0, dead.length - keep)
      .map((m) => m.id),
  );
  if (gone.size === 0) return t;
  const next = nextVersion(t);
  next.nextId = nextMemberId(t);
  next.members = next.members.filter((m) => !gone.has(m.id));
  return next;
}
