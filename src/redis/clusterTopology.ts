import { createHash } from 'node:crypto';
import { SLOTS } from '../protocol/table/keyPartition.js';
import type { Member, TableData } from '../protocol/table/PartitionTable.js';
import { arrayReply, bulkReply, integerReply, mapReply, type RespVersion } from '../transport/RespCodec.js';
import { parseAddress } from '../transport/TcpLink.js';

/**
 * The table as Redis Cluster shows itself: slot ranges with their primary and backup (CLUSTER SLOTS,
 * SHARDS), nodes (CLUSTER NODES, read by redis-benchmark --cluster) and the cluster's state (CLUSTER
 * INFO). Slots go to partitions in contiguous ranges (keyPartition.ts); a place appears through its
 * RESP address, and a place without one is left out (its slots are then not served through RESP).
 */

/** The first slot of partition p of count: slots s with floor(s * count / 16384) = p. */
export function firstSlotOf(p: number, count: number): number {
  return Math.ceil((p * SLOTS) / count);
}

/** The last slot of partition p of count. */
export function lastSlotOf(p: number, count: number): number {
  return Math.ceil(((p + 1) * SLOTS) / count) - 1;
}

const nodeIds = new Map<string, string>();

/** A place's Redis node id: 40 hex digits, the same on every place (from its id and address). */
export function nodeIdOf(m: Member): string {
  const key = `${m.id}/${m.address}`;
  let id = nodeIds.get(key);
  if (id === undefined) {
    id = createHash('sha1').update(`placestore ${key}`).digest('hex');
    if (nodeIds.size > 10_000) nodeIds.clear();
    nodeIds.set(key, id);
  }
  return id;
}

/** A run of slots with one primary and one backup (either may be null). */
export interface SlotRange {
  start: number;
  end: number;
  primary: Member | null;
  backup: Member | null;
}

/** The table's slots as ranges of consecutive partitions with the same primary and backup. */
export function slotRanges(t: TableData): SlotRange[] {
  const count = t.partitions.length;
  const byId = new Map(t.members.map((m) => [m.id, m]));
  const live = (id: number | null) => {
    const m = id === null ? undefined : byId.get(id);
    return m !== undefined && m.state !== 'dead' ? m : null;
  };
  const ranges: SlotRange[] = [];
  for (let p = 0; p < count; p++) {
    const a = t.partitions[p]!;
    const primary = t.formed ? live(a.primary) : null;
    const backup = t.formed ? live(a.backup) : null;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.primary === primary && last.backup === backup)
      last.end = lastSlotOf(p, count);
    else ranges.push({ start: firstSlotOf(p, count), end: lastSlotOf(p, count), primary, backup });
  }
  return ranges;
}

/** A node entry of CLUSTER SLOTS: host, port, id and (Redis 7) an empty map of networking metadata. */
function slotsNode(m: Member, v: RespVersion): Buffer {
  const { host, port } = parseAddress(m.resp!);
  return arrayReply([bulkReply(host, v), integerReply(port), bulkReply(nodeIdOf(m), v), mapReply([], v)], v);
}

/** CLUSTER SLOTS: each served range with its primary, then its backup as a replica. */
export function clusterSlots(t: TableData, v: RespVersion): Buffer {
  const items: Buffer[] = [];
  for (const r of slotRanges(t)) {
    if (r.primary?.resp === undefined) continue;
    const entry = [integerReply(r.start), integerReply(r.end), slotsNode(r.primary, v)];
    if (r.backup?.resp !== undefined) entry.push(slotsNode(r.backup, v));
    items.push(arrayReply(entry, v));
  }
  return arrayReply(items, v);
}

/** CLUSTER SHARDS: one shard per (primary, backup) pair, with all its slot ranges. */
export function clusterShards(t: TableData, v: RespVersion): Buffer {
  const shards = new Map<string, { primary: Member; backup: Member | null; slots: number[] }>();
  for (const r of slotRanges(t)) {
    if (r.primary?.resp === undefined) continue;
    const backup = r.backup?.resp === undefined ? null : r.backup;
    const key = `${r.primary.id}/${backup?.id ?? '-'}`;
    let s = shards.get(key);
    if (s === undefined) {
      s = { primary: r.primary, backup, slots: [] };
      shards.set(key, s);
    }
    s.slots.push(r.start, r.end);
  }
  const node = (m: Member, role: 'master' | 'replica') => {
    const { host, port } = parseAddress(m.resp!);
    return mapReply(
      [
        [bulkReply('id', v), bulkReply(nodeIdOf(m), v)],
        [bulkReply('port', v), integerReply(port)],
        [bulkReply('ip', v), bulkReply(host, v)],
        [bulkReply('endpoint', v), bulkReply(host, v)],
        [bulkReply('role', v), bulkReply(role, v)],
        [bulkReply('replication-offset', v), integerReply(0)],
        [bulkReply('health', v), bulkReply('online', v)],
      ],
      v,
    );
  };
  const items = [...shards.values()].map((s) => {
    const nodes = [node(s.primary, 'master')];
    if (s.backup !== null) nodes.push(node(s.backup, 'replica'));
    return mapReply(
      [
        [bulkReply('slots', v), arrayReply(s.slots.map(integerReply), v)],
        [bulkReply('nodes', v), arrayReply(nodes, v)],
      ],
      v,
    );
  });
  return arrayReply(items, v);
}

/**
 * CLUSTER NODES: every live place with a RESP address, as a master with the slots it is primary of.
 * Backups are not listed as replicas here: a Redis replica copies one master whole, while a place
 * backs up partitions of several (CLUSTER SLOTS and SHARDS list them per range).
 */
export function clusterNodes(t: TableData, self: number | null): string {
  const ranges = slotRanges(t);
  const lines: string[] = [];
  for (const m of t.members) {
    if (m.state === 'dead' || m.resp === undefined) continue;
    const { host, port } = parseAddress(m.resp);
    const slots = ranges
      .filter((r) => r.primary === m)
      .map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`));
    const flags = m.id === self ? 'myself,master' : 'master';
    lines.push(
      [nodeIdOf(m), `${host}:${port}@0`, flags, '-', '0', '0', String(t.term), 'connected', ...slots].join(
        ' ',
      ),
    );
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** CLUSTER INFO: ok when the store is valid and every slot has a primary. */
export function clusterInfo(t: TableData | null, invalid: string | null): string {
  const ranges = t === null ? [] : slotRanges(t);
  let ok = 0;
  for (const r of ranges) if (r.primary !== null) ok += r.end - r.start + 1;
  const live = t === null ? [] : t.members.filter((m) => m.state !== 'dead' && m.resp !== undefined);
  const size = new Set(ranges.filter((r) => r.primary !== null).map((r) => r.primary!.id)).size;
  const state = t?.formed && t.valid && invalid === null && ok === SLOTS ? 'ok' : 'fail';
  const term = t?.term ?? 0;
  return [
    `cluster_state:${state}`,
    `cluster_slots_assigned:${ok}`,
    `cluster_slots_ok:${ok}`,
    'cluster_slots_pfail:0',
    `cluster_slots_fail:${SLOTS - ok}`,
    `cluster_known_nodes:${live.length}`,
    `cluster_size:${size}`,
    `cluster_current_epoch:${term}`,
    `cluster_my_epoch:${term}`,
    'cluster_stats_messages_sent:0',
    'cluster_stats_messages_received:0',
    'total_cluster_links_buffer_limit_exceeded:0',
    '',
  ].join('\r\n');
}
