import { type Defects, NO_DEFECTS } from '../defects.js';
import { invariant } from '../invariant.js';
import { isNewer, type Member, majorityOf, type TableData, votersOf } from '../table/PartitionTable.js';
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
  /** The voter sets a majority of each of which must store the table: its predecessor's and its own. */
  sets: number[][];
  /** Where to send it: every voter of those sets but this place. */
  voters: Member[];
  acks: Set<number>;
  sentAt: number;
}

/**
 * The leader's way of changing the table (docs/control-plane.md): each new table goes to the voters
 * and becomes current only once a majority of its predecessor's voters and a majority of its own have
 * stored it (with three voters, the leader and its deputy). One table is out at a time; changes decided
 * meanwhile stack up on the newest decided table and go out next.
 */
export class TableCommitter {
  /** The newest table decided but not yet committed, if any. */
  draft: TableData | null = null;
  /** The table a new term starts from (the newest its votes showed), until the term's first commit. */
  private termBase: TableData | null = null;
  private inFlight: InFlightTable | null = null;
  private setsCache: {
    base: TableData;
    inFlight: InFlightTable | null;
    draft: TableData | null;
    sets: number[][];
  } | null = null;
  private onCommit: { version: number; fn: () => void }[] = [];

  constructor(
    private readonly host: CommitterHost,
    private readonly defects: Defects = NO_DEFECTS,
  ) {}

  /** The newest table decided: the draft, else the committed one. */
  get decided(): TableData {
    return this.draft ?? this.host.committed;
  }

  /** True while no change is decided or waiting for the voters. */
  get idle(): boolean {
    return this.draft === null && this.inFlight === null;
  }

  /** The voter sets whose majorities the leader answers to now: the committed table's, and the one out. */
  voterSets(): readonly (readonly number[])[] {
    // Asked on every request to the leader (its lease): the same sets until a table changes.
    const base = this.termBase ?? this.host.committed;
    const c = this.setsCache;
    if (c !== null && c.base === base && c.inFlight === this.inFlight && c.draft === this.draft)
      return c.sets;
    const sets = [votersOf(base).map((m) => m.id)];
    if (this.inFlight !== null) sets.push(...this.inFlight.sets);
    else if (this.draft !== null) sets.push(votersOf(this.draft).map((m) => m.id));
    this.setsCache = { base, inFlight: this.inFlight, draft: this.draft, sets };
    return sets;
  }

  /** Every voter of those sets, this place included. */
  voters(): Member[] {
    const out = new Map<number, Member>();
    for (const t of [this.termBase ?? this.host.committed, this.inFlight?.table ?? this.draft])
      if (t !== null) for (const m of votersOf(t)) out.set(m.id, m);
    return [...out.values()];
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

  /**
   * A new term won by this place: forgets every earlier decision and commits `next`, decided from
   * base, the newest table the votes showed (it may never have been committed).
   */
  startTerm(base: TableData, next: TableData): void {
    this.reset();
    this.termBase = base;
    this.draft = next;
    this.push();
  }

  /** Runs fn once the table of this version (or a later one) is committed. */
  whenCommitted(version: number, fn: () => void): void {
    if (this.host.committed.version >= version) fn();
    else this.onCommit.push({ version, fn });
  }

  /** Voter `id` stored the table of this term and version. */
  acknowledged(id: number, term: number, version: number): void {
    const inFlight = this.inFlight;
    if (inFlight === null || version !== inFlight.table.version || term !== inFlight.table.term) return;
    inFlight.acks.add(id);
    if (!this.stored(inFlight)) return;
    this.inFlight = null;
    this.commit(inFlight.table);
    if (this.draft !== null) this.push();
  }

  /** Sends the table out again to the voters that have not stored it, if it has waited retryMs. */
  retry(now: number, retryMs: number): void {
    const inFlight = this.inFlight;
    if (inFlight === null || now - inFlight.sentAt < retryMs) return;
    // A newer decision stacks on the one out; when that one is stuck, the newer one (which holds it) goes instead.
    if (this.draft !== null && this.draft !== inFlight.table) {
      this.inFlight = null;
      this.push();
      return;
    }
    inFlight.sentAt = now;
    for (const m of inFlight.voters) if (!inFlight.acks.has(m.id)) this.send(m, inFlight.table);
  }

  /** Forgets every decision (a takeover starts afresh; a place that rejoins leads nothing). */
  reset(): void {
    this.draft = null;
    this.termBase = null;
    this.inFlight = null;
    this.onCommit = [];
  }

  private stored(inFlight: InFlightTable): boolean {
    const me = this.host.myId;
    return inFlight.sets.every(
      (set) => set.filter((id) => id === me || inFlight.acks.has(id)).length >= majorityOf(set.length),
    );
  }

  private push(): void {
    const draft = this.draft;
    if (draft === null || this.inFlight !== null) return;
    const before = this.termBase ?? this.host.committed;
    const sets = [votersOf(before).map((m) => m.id), votersOf(draft).map((m) => m.id)];
    const voters = new Map<number, Member>();
    for (const m of [...votersOf(before), ...votersOf(draft)])
      if (m.id !== this.host.myId) voters.set(m.id, m);
    const inFlight: InFlightTable = {
      table: draft,
      sets,
      voters: [...voters.values()],
      acks: new Set(),
      sentAt: this.host.now(),
    };
    this.inFlight = inFlight;
    // The defect: the leader acts on a table at once, as if a majority of voters had stored it.
    if (this.stored(inFlight) || this.defects.has('no-deputy-ack')) {
      this.inFlight = null;
      this.commit(draft);
      return;
    }
    for (const m of inFlight.voters) this.send(m, draft);
  }

  private send(m: Member, table: TableData): void {
    this.host.sendTo(m.address, { t: 'tablePush', tv: this.host.committed.version, table });
  }

  private commit(t: TableData): void {
    const before = this.host.committed;
    // Tables only move forward: (term, version) grows with every commit.
    invariant(
      isNewer(t, before),
      () => `committing table ${t.term}.${t.version} after ${before.term}.${before.version}`,
    );
    if (this.draft !== null && this.draft.version <= t.version && this.draft.term === t.term)
      this.draft = null;
    // A term's first table was decided from the newest table the votes showed, which may be newer
    // than the one committed here: what it changed is measured from that one.
    const base = this.termBase ?? before;
    this.termBase = null;
    this.host.install(base, t);
    const due = this.onCommit.filter((c) => c.version <= t.version);
    this.onCommit = this.onCommit.filter((c) => c.version > t.version);
    for (const c of due) c.fn();
  }
}

/** The places to tell of a new table: those whose roles or state changed, every voter, everyone on a new term. */
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
  // Voters stored the table before it was committed; they make it current once told.
  for (const m of votersOf(after)) changed.add(m.id);
  return after.members.filter(
    (m) =>
      m.id !== myId && m.state !== 'dead' && (everyone || changed.has(m.id) || states.get(m.id) !== m.state),
  );
}
