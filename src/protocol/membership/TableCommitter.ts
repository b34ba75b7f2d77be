import { type Defects, NO_DEFECTS } from '../defects.js';
import { invariant } from '../invariant.js';
import { deputyOf, isNewer, type Member, type TableData } from '../table/PartitionTable.js';
import type { TablePush } from '../wire/messages.js';

/** What the committer needs from its place. */
export interface CommitterHost {
  /** This place's id. */
  readonly myId: number | null;
  /** The table this place has adopted (the last committed one). */
  readonly committed: TableData;
  now(): number;
  /** Sends a message to a place. */
  sendTo(address: string, msg: TablePush): void;
  /** Makes a table current here, then tells whoever must hear of it. */
  install(before: TableData, t: TableData): void;
}

interface InFlightTable {
  table: TableData;
  deputyId: number;
  deputyAddress: string;
  sentAt: number;
}

/**
 * The leader's way of changing the table (design notes, point 1): each new table goes to the deputy
 * first and becomes current only once the deputy has acknowledged it (at once when there is no
 * deputy). Changes decided meanwhile stack up on the newest decided table and go out next.
 */
export class TableCommitter {
  /** The newest table decided but not yet committed, if any. */
  draft: TableData | null = null;
  private inFlight: InFlightTable | null = null;
  private onCommit: { version: number; fn: () => void }[] = [];

  constructor(
    private readonly host: CommitterHost,
    private readonly defects: Defects = NO_DEFECTS,
  ) {}

  /** The newest table decided: the draft, else the committed one. */
  get decided(): TableData {
    return this.draft ?? this.host.committed;
  }

  /** True while no change is decided or waiting for the deputy. */
  get idle(): boolean {
    return this.draft === null && this.inFlight === null;
  }

  /** Decides a new table from the newest decided one; `after` runs once it is committed. */
  change(fn: (t: TableData) => TableData, after?: () => void): void {
    const base = this.decided;
    const next = fn(base);
    if (next === base) {
      if (after !== undefined) this.whenCommitted(base.version, after);
      return;
    }
    this.draft = next;
    if (after !== undefined) this.onCommit.push({ version: next.version, fn: after });
    this.push();
  }

  /** Runs fn once the table of this version (or a later one) is committed. */
  whenCommitted(version: number, fn: () => void): void {
    if (this.host.committed.version >= version) fn();
    else this.onCommit.push({ version, fn });
  }

  /** The deputy acknowledged table version `version`. */
  acknowledged(version: number): void {
    const inFlight = this.inFlight;
    if (inFlight === null || version !== inFlight.table.version) return;
    this.inFlight = null;
    this.commit(inFlight.table);
    if (this.draft !== null && this.draft.version > inFlight.table.version) this.push();
  }

  /** Sends the table waiting for an ack again, if it has waited retryMs. */
  retry(now: number, retryMs: number): void {
    const inFlight = this.inFlight;
    if (inFlight === null || now - inFlight.sentAt < retryMs) return;
    inFlight.sentAt = now;
    this.host.sendTo(inFlight.deputyAddress, {
      t: 'tablePush',
      tv: this.host.committed.version,
      table: inFlight.table,
    });
  }

  /** Forgets every decision (a takeover starts afresh; a place that rejoins leads nothing). */
  reset(): void {
    this.draft = null;
    this.inFlight = null;
    this.onCommit = [];
  }

  private push(): void {
    this.pushDraft();
    // The defect: the leader acts on a table at once, as if its deputy had acknowledged it.
    if (this.defects.has('no-deputy-ack') && this.inFlight !== null)
      this.acknowledged(this.inFlight.table.version);
  }

  private pushDraft(): void {
    const draft = this.draft;
    if (draft === null) return;
    const deputy = deputyOf(draft);
    const inFlight = this.inFlight;
    // The deputy is still working on an earlier table: the draft goes next.
    if (inFlight !== null && deputy?.id === inFlight.deputyId) return;
    if (deputy === undefined || deputy.id === this.host.myId) {
      this.inFlight = null;
      this.commit(draft);
      return;
    }
    this.inFlight = {
      table: draft,
      deputyId: deputy.id,
      deputyAddress: deputy.address,
      sentAt: this.host.now(),
    };
    this.host.sendTo(deputy.address, { t: 'tablePush', tv: this.host.committed.version, table: draft });
  }

  private commit(t: TableData): void {
    const before = this.host.committed;
    // Tables only move forward: (term, version) grows with every commit.
    invariant(
      isNewer(t, before),
      () => `committing table ${t.term}.${t.version} after ${before.term}.${before.version}`,
    );
    if (this.draft !== null && this.draft.version <= t.version) this.draft = null;
    this.host.install(before, t);
    const due = this.onCommit.filter((c) => c.version <= t.version);
    this.onCommit = this.onCommit.filter((c) => c.version > t.version);
    for (const c of due) c.fn();
  }
}

/** The places to tell of a new table: those whose roles or state changed, everyone on a new term; not the deputy. */
export function placesToTell(before: TableData, after: TableData, myId: number | null): Member[] {
  const changed = new Set<number>();
  const everyone = after.term !== before.term;
  for (let p = 0; p < after.partitions.length && !everyone; p++) {
    const a = before.partitions[p];
    const b = after.partitions[p];
    if (a === undefined || b === undefined) continue;
    if (a.primary !== b.primary || a.epoch !== b.epoch || a.backup !== b.backup || a.target !== b.target) {
      for (const id of [a.primary, a.backup, a.target, b.primary, b.backup, b.target])
        if (id !== null) changed.add(id);
    }
  }
  const states = new Map(before.members.map((m) => [m.id, m.state]));
  const deputy = deputyOf(after)?.id;
  return after.members.filter(
    (m) =>
      m.id !== myId &&
      m.id !== deputy &&
      m.state !== 'dead' &&
      (everyone || changed.has(m.id) || states.get(m.id) !== m.state),
  );
}
