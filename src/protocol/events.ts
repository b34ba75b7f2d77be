import type { MemberState, TableData } from './table/PartitionTable.js';
import { handingOver } from './table/tableChanges.js';

/**
 * A decision the protocol took, as an operator reads it (docs/observability.md). The protocol appends
 * them to its Outbox like messages; the runtime stamps, logs and keeps them.
 */
export type PlaceEvent =
  | { event: 'table_committed'; term: number; version: number; changes: string[] }
  | { event: 'place_joined'; id: number; address: string; state: MemberState }
  | { event: 'place_activated'; id: number; address: string }
  /** `by`: the leader that committed the verdict. */
  | { event: 'place_dead'; id: number; address: string; by: number; term: number }
  | { event: 'takeover'; term: number; leader: number; replaced: number[] }
  | { event: 'promoted'; partition: number; primary: number; from: number | null; epoch: number }
  | { event: 'handover_started'; partition: number; from: number; to: number }
  | { event: 'handover'; partition: number; from: number; to: number; epoch: number }
  /** A primary could not reach its backup (a cut link): the partition goes on with one copy until repaired. */
  | { event: 'backup_dropped'; partition: number; primary: number; backup: number }
  | { event: 'copy_started'; partition: number; to: number; attempt: number }
  | {
      event: 'copy_finished';
      partition: number;
      to: number;
      keys: number;
      bytes: number;
      durationMs: number;
    }
  | { event: 'lease_lost'; reason: string }
  | { event: 'lease_regained'; withoutMs: number }
  | { event: 'invalid'; reason: string };

/**
 * What a committed table changed, as events: members that joined, turned active or were declared
 * dead (by `leader`), primaries promoted or handed over, handovers begun, and one table_committed
 * that sums it all up. Only the leader, which commits, reports them, so each appears once.
 */
export function tableEvents(before: TableData, after: TableData, leader: number): PlaceEvent[] {
  const events: PlaceEvent[] = [];
  const changes: string[] = [];
  if (after.term !== before.term) changes.push(`term ${before.term} -> ${after.term}`);
  const old = new Map(before.members.map((m) => [m.id, m]));
  for (const m of after.members) {
    const was = old.get(m.id);
    if (was === undefined) {
      events.push({ event: 'place_joined', id: m.id, address: m.address, state: m.state });
      changes.push(`place ${m.id} joined as ${m.state === 'active' ? 'a member' : m.state}`);
    } else if (was.state !== m.state && m.state === 'dead') {
      events.push({ event: 'place_dead', id: m.id, address: m.address, by: leader, term: after.term });
      changes.push(`place ${m.id} declared dead`);
    } else if (was.state === 'spare' && m.state === 'active') {
      events.push({ event: 'place_activated', id: m.id, address: m.address });
      changes.push(`place ${m.id} became a member`);
    }
  }
  if (!before.formed && after.formed) changes.push(`formed: ${after.partitions.length} partitions assigned`);
  let promoted = 0;
  let handedOver = 0;
  let handoversStarted = 0;
  let copiesPlanned = 0;
  let copiesDone = 0;
  let backupsDropped = 0;
  if (before.formed) {
    for (let p = 0; p < after.partitions.length; p++) {
      const a = before.partitions[p];
      const b = after.partitions[p];
      if (a === undefined || b === undefined) continue;
      if (b.primary !== a.primary && b.primary !== null) {
        if (a.primary !== null && b.backup === a.primary && handingOver(a)) {
          events.push({ event: 'handover', partition: p, from: a.primary, to: b.primary, epoch: b.epoch });
          handedOver++;
        } else {
          events.push({
            event: 'promoted',
            partition: p,
            primary: b.primary,
            from: a.primary,
            epoch: b.epoch,
          });
          promoted++;
        }
      } else if (handingOver(b) && !handingOver(a) && b.primary !== null && b.target !== null) {
        events.push({ event: 'handover_started', partition: p, from: b.primary, to: b.target });
        handoversStarted++;
      }
      if (b.target !== null && b.target !== a.target && !handingOver(b)) copiesPlanned++;
      if (a.target !== null && b.target === null && b.backup === a.target) copiesDone++;
      const dropped = a.backup;
      if (
        dropped !== null &&
        b.backup === null &&
        b.primary === a.primary &&
        b.primary !== null &&
        after.members.find((m) => m.id === dropped)?.state !== 'dead'
      ) {
        events.push({ event: 'backup_dropped', partition: p, primary: b.primary, backup: dropped });
        backupsDropped++;
      }
    }
  }
  if (promoted > 0) changes.push(`${promoted} partitions promoted`);
  if (handedOver > 0) changes.push(`${handedOver} partitions handed over`);
  if (handoversStarted > 0) changes.push(`${handoversStarted} handovers begun`);
  if (copiesPlanned > 0) changes.push(`${copiesPlanned} copies planned`);
  if (copiesDone > 0) changes.push(`${copiesDone} copies complete`);
  if (backupsDropped > 0)
    changes.push(`${backupsDropped} backups dropped (their primaries could not reach them)`);
  const pruned = before.members.filter((m) => !after.members.some((x) => x.id === m.id)).length;
  if (pruned > 0) changes.push(`${pruned} dead places pruned from the table`);
  if (before.valid && !after.valid) changes.push(`invalid: ${after.invalidReason ?? 'no reason given'}`);
  events.unshift({ event: 'table_committed', term: after.term, version: after.version, changes });
  return events;
}

/** One line of English for an event (log messages, `placestore events`). */
export function describeEvent(e: PlaceEvent): string {
  switch (e.event) {
    case 'table_committed':
      return `table ${e.term}.${e.version} committed${e.changes.length > 0 ? `: ${e.changes.join('; ')}` : ''}`;
    case 'place_joined':
      return `place ${e.id} (${e.address}) joined as ${e.state === 'active' ? 'a member' : e.state}`;
    case 'place_activated':
      return `place ${e.id} (${e.address}) became a member`;
    case 'place_dead':
      return `place ${e.id} (${e.address}) declared dead by leader ${e.by} in term ${e.term}`;
    case 'takeover':
      return `place ${e.leader} took over as leader in term ${e.term}, replacing ${e.replaced.join(', ')}`;
    case 'promoted':
      return `partition ${e.partition}: place ${e.primary} promoted to primary at epoch ${e.epoch}${e.from === null ? '' : ` (was ${e.from})`}`;
    case 'handover_started':
      return `partition ${e.partition}: handover from place ${e.from} to ${e.to} begun`;
    case 'handover':
      return `partition ${e.partition}: handed over from place ${e.from} to ${e.to} at epoch ${e.epoch}`;
    case 'backup_dropped':
      return `partition ${e.partition}: backup ${e.backup} dropped, primary ${e.primary} cannot reach it`;
    case 'copy_started':
      return `partition ${e.partition}: copy to place ${e.to} started (attempt ${e.attempt})`;
    case 'copy_finished':
      return `partition ${e.partition}: copy to place ${e.to} in sync: ${e.keys} keys, ${e.bytes} bytes in ${Math.round(e.durationMs)} ms`;
    case 'lease_lost':
      return `lease lost: ${e.reason}`;
    case 'lease_regained':
      return `lease regained after ${Math.round(e.withoutMs)} ms without`;
    case 'invalid':
      return `the store is invalid: ${e.reason}`;
  }
}
