import { leaderOf } from '../protocol/table/PartitionTable.js';
import { handingOver } from '../protocol/table/tableChanges.js';
import type { PlaceNode } from '../runtime/PlaceNode.js';

/** A copy or handover a place runs as a primary, with its progress (keys sent of keys held at its start). */
export interface CopyProgress {
  partition: number;
  to: number;
  kind: 'queued' | 'copy' | 'handover';
  keysSent: number;
  keysTotal: number;
  inSync: boolean;
}

/** What the HTTP side reads of a running place: its roles, keys, copies and the table's view of it. */
export class PlaceView {
  constructor(
    readonly node: PlaceNode,
    private readonly connectionCounts: () => { clients: number; places: number },
  ) {}

  /** This place's id, or null before it joined. */
  get id(): number | null {
    return this.node.place.id;
  }

  /** Partitions this place holds, by role, as its table says. */
  roles(): { primaries: number; backups: number; targets: number } {
    const t = this.node.place.tableData;
    const me = this.id;
    const r = { primaries: 0, backups: 0, targets: 0 };
    if (t === null || me === null || !t.formed) return r;
    for (const a of t.partitions) {
      if (a.primary === me) r.primaries++;
      else if (a.backup === me) r.backups++;
      else if (a.target === me) r.targets++;
    }
    return r;
  }

  /** Keys this place stores, by the role its replica of their partition has. */
  keys(): { primary: number; backup: number } {
    const k = { primary: 0, backup: 0 };
    const t = this.node.place.tableData;
    if (t === null) return k;
    for (let p = 0; p < t.partitions.length; p++) {
      const rep = this.node.place.replica(p);
      if (rep === undefined) continue;
      if (rep.role === 'primary') k.primary += rep.data.size;
      else if (rep.role === 'backup') k.backup += rep.data.size;
    }
    return k;
  }

  /** True when this place leads the cluster, as its table says. */
  isLeader(): boolean {
    const t = this.node.place.tableData;
    if (t === null || this.id === null) return false;
    return leaderOf(t)?.id === this.id;
  }

  /** True while this place holds a lease. */
  hasLease(): boolean {
    return this.node.place.id !== null && this.node.place.hasLease;
  }

  /** Why the store is invalid, as this place knows it, or null. */
  invalid(): string | null {
    return this.node.place.invalid;
  }

  tableVersion(): number {
    return this.node.place.tableData?.version ?? 0;
  }

  tableTerm(): number {
    return this.node.place.tableData?.term ?? 0;
  }

  /** Copies and handovers this place runs as a primary, with their progress. */
  copies(): CopyProgress[] {
    const out: CopyProgress[] = [];
    const t = this.node.place.tableData;
    if (t === null) return out;
    for (let p = 0; p < t.partitions.length; p++) {
      const s = this.node.place.copyState(p);
      if (s.kind === 'none') continue;
      if (s.kind === 'copy')
        out.push({
          partition: p,
          to: s.target,
          kind: 'copy',
          keysSent: s.keysSent,
          keysTotal: s.keysTotal,
          inSync: s.syncSeq !== null,
        });
      else
        out.push({
          partition: p,
          to: s.kind === 'queued' ? s.target : s.to,
          kind: s.kind,
          keysSent: 0,
          keysTotal: 0,
          inSync: false,
        });
    }
    return out;
  }

  /** Writes answered as a primary that the backups have not acknowledged yet. */
  replicationLag(): number {
    let lag = 0;
    const t = this.node.place.tableData;
    if (t === null) return 0;
    for (let p = 0; p < t.partitions.length; p++) {
      const rep = this.node.place.replica(p);
      if (rep !== undefined && rep.role === 'primary') lag += Math.max(0, rep.seq - rep.ackedSeq);
    }
    return lag;
  }

  /** Open connections, by who is at the other end. */
  connections(): { clients: number; places: number } {
    return this.connectionCounts();
  }

  /**
   * Ready: joined, the store valid, and every partition this place holds has both its copies (a
   * primary and an in-sync backup). Returns the reasons it is not, empty when ready.
   */
  notReady(): string[] {
    const place = this.node.place;
    const t = place.tableData;
    const me = place.id;
    if (t === null || me === null) return ['this place has not joined a cluster yet'];
    if (place.invalid !== null) return [`the store is invalid: ${place.invalid}`];
    if (!t.formed) return ['the cluster has not formed yet'];
    const self = t.members.find((m) => m.id === me);
    if (self === undefined || self.state === 'dead') return ['this place was declared dead and rejoins'];
    // Its own table may be stale: a place cut off from the majority knows it only by its lease.
    if (!place.hasLease)
      return ['this place holds no lease from a leader backed by a majority (cut off, or paused)'];
    const short: number[] = [];
    t.partitions.forEach((a, p) => {
      // A handover keeps the backup in sync (it is the target); a copy to a new place means one is missing.
      const copying = a.target !== null && !handingOver(a);
      if ((a.primary === me || a.backup === me) && (a.primary === null || a.backup === null || copying))
        short.push(p);
    });
    if (short.length === 0) return [];
    const shown = short.slice(0, 10).join(', ');
    return [
      `${short.length} partitions held here lack an in-sync backup: ${shown}${short.length > 10 ? ', ...' : ''}`,
    ];
  }
}
