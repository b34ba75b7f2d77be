import { type PartitionTable, roleCounts, votersOf } from './table/PartitionTable.js';
import type { ClusterStatus } from './wire/messages.js';

/** The cluster as a table shows it, in the shape of `status --json` (docs/contract.md). */
export function clusterStatus(
  table: PartitionTable,
  invalidReason: string | null,
  failureTimeoutMs: number,
  loopBlockMs: ReadonlyMap<number, number>,
): ClusterStatus {
  const data = table.data;
  const leader = table.leader ?? null;
  const deputy = table.deputy ?? null;
  const counts = roleCounts(data);
  return {
    valid: invalidReason === null,
    invalidReason,
    tableVersion: data.version,
    term: data.term,
    voters: votersOf(data).map((m) => m.id),
    leader: leader?.id ?? null,
    deputy: deputy?.id ?? null,
    failureTimeoutMs,
    formed: data.formed,
    minPlaces: data.minPlaces,
    places: data.members.map((m) => ({
      id: m.id,
      address: m.address,
      pid: m.pid,
      role:
        m.state === 'dead'
          ? 'member'
          : m.id === leader?.id
            ? 'leader'
            : m.id === deputy?.id
              ? 'deputy'
              : m.state === 'spare'
                ? 'spare'
                : 'member',
      zone: m.zone,
      state: m.state,
      primaries: counts.get(m.id)?.primaries ?? 0,
      backups: counts.get(m.id)?.backups ?? 0,
      loopBlockMs: m.state === 'dead' ? null : (loopBlockMs.get(m.id) ?? null),
      http: m.http ?? null,
      resp: m.resp ?? null,
    })),
    partitions: data.formed
      ? data.partitions.map((a, id) => ({
          id,
          primary: a.primary,
          backup: a.backup,
          target: a.target,
          epoch: a.epoch,
          state: a.state,
        }))
      : [],
  };
}
