import { type HistoryEvent, HistoryRecorder, pairOperations } from '../check/history.js';
import { checkHistory, findLostWrites } from '../check/linearizability.js';
import { Workload } from '../check/Workload.js';
import { StoreClient } from '../client/StoreClient.js';
import { DEFECTS, type Defect } from '../protocol/defects.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import type { Place } from '../protocol/Place.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../protocol/PlaceConfig.js';
import { processorRegistry } from '../protocol/requests/processors.js';
import { isNewer, leaderOf, majorityOf, type TableData, votersOf } from '../protocol/table/PartitionTable.js';
import { BATCH_ENTRY_FIELDS } from '../protocol/wire/messages.js';
import { PlaceNode } from '../runtime/PlaceNode.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/MemoryNetwork.js';
import { seededRandom } from '../util/random.js';
import { describeMessage } from './describeMessage.js';
import { DEFAULT_SIM, type SimConfig, type SimResult, workUnits } from './simConfig.js';

export { DEFAULT_SIM, DEFECTS, type Defect, type SimConfig, type SimResult };

const TIMEOUT_MS = DEFAULT_TUNING.failureTimeoutMs;

/** Awaited to let promise callbacks run (as `await Promise.resolve()`, without a new promise each time). */
const RESOLVED = Promise.resolve();

interface SimPlace {
  node: PlaceNode;
  transport: MemoryTransport;
  address: string;
  crashed: boolean;
}

/**
 * A whole cluster in one process, driven by one seed: message delays (order kept within a
 * connection), crashes, pauses, stalled connections, network partitions of every shape (healed, and
 * the majority side checked for a leader), spares joining, dead places replaced, clock drift. Invariants are checked as it runs; at the end the client history must be linearizable with no
 * acknowledged write lost, unless the store declared itself invalid (the only excuse, and only in
 * catastrophe mode).
 */
export class Simulator {
  readonly net: MemoryNetwork;
  private readonly random: () => number;
  private readonly places: SimPlace[] = [];
  private readonly recorder: HistoryRecorder;
  private failure: string | null = null;
  /** When a fault last touched each address (crash, pause start or end, the end of a stall of its links). */
  private readonly faultAt = new Map<string, number>();
  /** Members already seen declared dead in the leader's table. */
  private readonly declaredDead = new Set<number>();
  /** Why the store was declared invalid, by a place alive then (the verdict is for good). */
  private sawInvalid: string | null = null;
  private faults = 0;
  private nextAddress = 0;
  /** When the last stalled connection delivers again. */
  private stallEndMs = 0;
  /** When the network partition under way heals (0: none). */
  private partitionEndMs = 0;
  /** Per partition fault (normal mode): ms from the cut until the majority side served everything. */
  private readonly unservedMs: number[] = [];
  private steps = 0;
  /** (partition:epoch) -> the place seen acting as its primary. */
  private readonly primaries = new Map<number, number>();
  /** The last leader table found held by a majority of its voters. */
  private comparedTable: TableData | null = null;
  /** Invariants are checked every few steps while the workload runs. */
  private checking = false;
  /** A step ran client or workload code, whose promise callbacks must run before time moves on. */
  private clientTouched = true;
  /** Per partition, the last (backup, epoch, seq) whose data was compared with its primary's. */
  private readonly matched: { partner: number; epoch: number; seq: number }[] = [];

  constructor(private readonly config: SimConfig) {
    this.net = new MemoryNetwork(config.seed);
    this.net.latency = { minMs: 0.1, maxMs: 2, stepMs: 0.5 };
    this.net.copy = config.copy;
    this.net.workMs = (endpoint, msg) =>
      endpoint.startsWith('client') ? 0 : workUnits(msg) * config.workMsPerUnit;
    this.random = seededRandom(config.seed ^ 0x9e3779b9);
    this.recorder = new HistoryRecorder(() => Math.round(this.net.now * 1e6));
    const trace = config.trace;
    this.net.onDeliver = (from, to, msg) => {
      trace?.(`${this.stamp()} ${from} -> ${to} ${describeMessage(msg)}`);
      if (msg.t === 'replBatch') this.beforeReplicate(to, msg.es as unknown[]);
    };
    this.net.onDelivered = (to) => {
      if (this.staleProbes.length > 0) this.afterReplicate(to);
    };
    if (trace !== undefined) {
      this.recorder.onRecord = (e: HistoryEvent) =>
        trace(`${this.stamp()} op p${e.process} ${e.type} ${e.f} ${e.key} ${JSON.stringify(e.value)}`);
    }
  }

  private stamp(): string {
    return this.net.now.toFixed(3).padStart(10);
  }

  private log(line: string): void {
    this.config.trace?.(`${this.stamp()} ${line}`);
  }

  private fail(why: string): void {
    if (this.failure === null) {
      this.failure = `${why} (at ${this.net.now.toFixed(3)} ms)`;
      this.log(`FAILURE ${why}`);
      if (this.config.trace !== undefined)
        for (const p of this.places) this.log(`  ${this.describePlace(p)}`);
    }
  }

  /** One place as the trace shows it on a failure: id, state, table, lease. */
  private describePlace(p: SimPlace): string {
    const place = p.node.place;
    const t = place.tableData;
    const st = place.storedTable;
    const state = p.crashed ? 'crashed' : this.net.isPaused(p.address) ? 'paused' : 'up';
    const table =
      t === null
        ? 'no table'
        : `table ${t.term}.${t.version} leader ${leaderOf(t)?.id} voters ${votersOf(t)
            .map((v) => v.id)
            .join(',')} dead ${t.members
            .filter((m) => m.state === 'dead')
            .map((m) => m.id)
            .join(',')}`;
    const stored = st !== null && st !== t ? ` stored ${st.term}.${st.version}` : '';
    return `${p.address} id ${place.id} ${state} ${table}${stored} lease ${place.hasLease} invalid ${place.invalid}`;
  }

  /** Starts a place; the first bootstraps. */
  private async startPlace(spare: boolean, seeds: string[]): Promise<SimPlace> {
    const address = `place-${this.nextAddress++}:7400`;
    const config: PlaceConfig = {
      ...DEFAULT_TUNING,
      address,
      zone: null,
      spare,
      pid: 10_000 + this.nextAddress,
      seeds,
      partitionCount: 16,
      minPlaces: this.config.places,
      limits: DEFAULT_LIMITS,
      processors: processorRegistry(),
      snapshotPieceBytes: this.config.snapshotPieceBytes,
      // Partitions last up to 4.5 failure timeouts; a last copy silent this long is lost.
      lostAfterMs: TIMEOUT_MS * 8,
      // Paced copies one at a time, or many at once (so more writes land while a copy runs).
      maxCopiesInFlight: [1, 2, 4, 16][Math.floor(this.random() * 4)]!,
      defects: new Set(this.config.defect === undefined ? [] : [this.config.defect]),
    };
    const transport = this.net.transport(address, 'place');
    // Clock drift within 1%, well inside what the leases allow (a lease is half the failure timeout).
    const drift = (this.random() - 0.5) * 0.02;
    const node = new PlaceNode(config, transport, this.net.schedulerFor(address, drift), {
      // A thrown invariant stops the place (it ignores everything from then on) and fails the seed.
      onFatal: (err) => this.fail(`invariant broken at ${address}: ${String(err)}`),
    });
    await node.start();
    const p = { node, transport, address, crashed: false };
    this.places.push(p);
    this.log(`start ${address}${spare ? ' (spare)' : ''} drift ${(drift * 100).toFixed(2)}%`);
    return p;
  }

  private live(): SimPlace[] {
    return this.places.filter((p) => !p.crashed);
  }

  /** The first place started at address (as places.find would find it), crashed or not. */
  private placeAt(address: string): SimPlace | undefined {
    for (let i = 0; i < this.places.length; i++)
      if (this.places[i]!.address === address) return this.places[i];
    return undefined;
  }

  private leaderTable(): TableData | null {
    let best: TableData | null = null;
    for (const p of this.places) {
      if (p.crashed || this.net.isPaused(p.address)) continue;
      const t = p.node.place.tableData;
      if (t === null || leaderOf(t)?.id !== p.node.place.id) continue;
      if (best === null || t.term > best.term || (t.term === best.term && t.version > best.version)) best = t;
    }
    return best;
  }

  /**
   * True when a majority of the voters of the newest table any place committed, or of the newest one
   * any place stored (a takeover's table, which may bring crashed places in as voters), has crashed.
   */
  private quorumLost(): boolean {
    let committed: TableData | null = null;
    let stored: TableData | null = null;
    for (const p of this.places) {
      const t = p.node.place.tableData;
      const st = p.node.place.storedTable;
      if (t !== null && (committed === null || isNewer(t, committed))) committed = t;
      if (st !== null && (stored === null || isNewer(st, stored))) stored = st;
    }
    const lost = (t: TableData | null) => {
      if (t === null) return false;
      const voters = votersOf(t);
      const up = voters.filter((v) =>
        this.places.some((p) => !p.crashed && p.node.place.id === v.id && p.address === v.address),
      ).length;
      return up < majorityOf(voters.length);
    };
    return lost(committed) || lost(stored);
  }

  /**
   * Every place is up and a member again: as many processes as at the start, and as many members
   * the leader does not hold dead (places declared dead in a cut have joined again, so the voters
   * are whole). Only then, in normal mode, comes the next fault: a crash while the leader and one
   * other are the only members left is a second failure, which no majority survives (seed 1346).
   */
  private atFullStrength(): boolean {
    const t = this.leaderTable();
    const members = t === null ? 0 : t.members.filter((m) => m.state !== 'dead').length;
    return this.live().length >= this.config.places + 1 && members >= this.config.places + 1;
  }

  /** Repaired in truth, not only as the leader sees it: every crashed place is known dead, every partition ok. */
  private repaired(): boolean {
    const t = this.leaderTable();
    if (t === null || !t.valid || !t.formed) return false;
    for (const p of this.places) {
      const id = p.node.place.id;
      if (p.crashed && id !== null && t.members.find((m) => m.id === id)?.state !== 'dead') return false;
    }
    const live = new Set(t.members.filter((m) => m.state !== 'dead').map((m) => m.id));
    return t.partitions.every((a) => a.state === 'ok' && live.has(a.primary!) && live.has(a.backup!));
  }

  /** Backups' state as entries of an older epoch reach them, to see that those entries changed nothing. */
  private staleProbes: { p: number; e: number; s: number; seq: number; buffered: number }[] = [];
  private probedPlace: Place | null = null;

  private beforeReplicate(to: string, es: unknown[]): void {
    this.staleProbes.length = 0;
    const place = this.placeAt(to)?.node.place;
    if (place === undefined) return;
    this.probedPlace = place;
    for (let i = 0; i < es.length; i += BATCH_ENTRY_FIELDS) {
      const p = es[i] as number;
      const e = es[i + 1] as number;
      const rep = place.replica(p);
      if (rep === undefined || rep.role !== 'backup') continue;
      if (e < rep.epoch)
        this.staleProbes.push({ p, e, s: es[i + 2] as number, seq: rep.seq, buffered: rep.bufferedCount });
    }
    if (this.staleProbes.length === 0) return;
    // A partition with current entries in the same batch moves on legitimately.
    const current = new Set<number>();
    for (let i = 0; i < es.length; i += BATCH_ENTRY_FIELDS) {
      const p = es[i] as number;
      const rep = place.replica(p);
      if (rep === undefined || rep.role !== 'backup') continue;
      if (!((es[i + 1] as number) < rep.epoch)) current.add(p);
    }
    this.staleProbes = this.staleProbes.filter((x) => !current.has(x.p));
  }

  /** A backup ignores updates from an older epoch: neither applies nor keeps them for later. */
  private afterReplicate(to: string): void {
    for (const probe of this.staleProbes) {
      const rep = this.probedPlace?.replica(probe.p);
      if (rep !== undefined && (rep.seq !== probe.seq || rep.bufferedCount > probe.buffered)) {
        this.fail(
          `backup ${to} took entry s${probe.s} of partition ${probe.p} from epoch ${probe.e}, older than its own`,
        );
        break;
      }
    }
    this.staleProbes.length = 0;
  }

  /** Invariants that must hold at every moment; checked every few steps as the run goes. */
  /**
   * In normal mode a place is declared dead only when a fault touched it lately (a crash, a pause, a
   * stall of its links): a live place declared dead was busy, or the failure detector is wrong.
   */
  private checkDeclaredDead(t: TableData): void {
    for (const m of t.members) {
      if (m.state !== 'dead' || this.declaredDead.has(m.id)) continue;
      this.declaredDead.add(m.id);
      const p = this.places.find((x) => x.address === m.address && x.node.config.pid === m.pid);
      if (p === undefined || p.crashed) continue;
      const faultAt = this.faultAt.get(p.address) ?? Number.NEGATIVE_INFINITY;
      if (this.net.now - faultAt > TIMEOUT_MS * 5)
        this.fail(`live place ${m.id} (${p.address}) was declared dead though no fault touched it lately`);
    }
  }

  private checkInvariants(): void {
    // At most one leader holds a lease at any moment: a new term starts only once the old one's ended.
    let leading: SimPlace | null = null;
    for (const p of this.places) {
      if (p.crashed) continue;
      const place = p.node.place;
      const t = place.tableData;
      if (this.net.isPaused(p.address) || t === null || leaderOf(t)?.id !== place.id || !place.hasLease)
        continue;
      if (leading !== null)
        this.fail(
          `places ${leading.node.place.id} (term ${leading.node.place.tableData!.term}) and ${place.id} (term ${t.term}) both lead with a lease`,
        );
      leading = p;
    }
    const acting = new Map<number, SimPlace>();
    for (const p of this.places) {
      if (p.crashed || this.net.isPaused(p.address)) continue;
      const place = p.node.place;
      const id = place.id;
      if (id === null || !place.hasLease || place.invalid !== null) continue;
      const t = place.tableData;
      if (t === null) continue;
      for (let i = 0; i < t.partitions.length; i++) {
        const rep = place.replica(i);
        // A primary handing its role over answers nothing: it does not act.
        if (rep === undefined || rep.role !== 'primary' || place.copyState(i).kind === 'handover') continue;
        // At most one place may act as a partition's primary: per epoch, and at any one moment.
        const key = rep.epoch * 65_536 + i;
        const other = this.primaries.get(key);
        if (other === undefined) this.primaries.set(key, id);
        else if (other !== id)
          this.fail(`two primaries for partition ${i} in epoch ${rep.epoch}: places ${other} and ${id}`);
        const now = acting.get(i);
        if (now !== undefined)
          this.fail(`places ${now.node.place.id} and ${id} both act as primary of partition ${i}`);
        acting.set(i, p);
        this.checkBackupMatches(p, i);
      }
    }
    // The leader acts only on tables a majority of their voters has stored.
    const t = this.leaderTable();
    if (t === null) return;
    if (this.config.mode === 'normal') this.checkDeclaredDead(t);
    if (this.comparedTable === t) return;
    const voters = votersOf(t);
    let stored = 0;
    for (const v of voters) {
      // A crashed place's memory is gone, but what it stored before it crashed still counts.
      const p = this.places.find((x) => x.node.place.id === v.id && x.address === v.address);
      const st = p?.node.place.storedTable;
      if (st === undefined || st === null || isNewer(t, st)) continue;
      stored++;
      if (
        st.term === t.term &&
        st.version === t.version &&
        st !== t &&
        JSON.stringify(st) !== JSON.stringify(t)
      )
        this.fail(`leader and voter ${v.id} disagree on table ${t.term}.${t.version}`);
    }
    if (stored < majorityOf(voters.length))
      this.fail(
        `leader committed table ${t.term}.${t.version} but only ${stored} of its ${voters.length} voters hold it`,
      );
    else this.comparedTable = t;
  }

  /** Once a primary's writes are all acknowledged by its backup at the same sequence, both hold the same data. */
  private checkBackupMatches(primary: SimPlace, partition: number): void {
    const t = primary.node.place.tableData!;
    const a = t.partitions[partition];
    const rep = primary.node.place.replica(partition);
    if (rep === undefined) return;
    // The backup, or a copy's target once it has caught up.
    const copy = primary.node.place.copyState(partition);
    const inSync = copy.kind === 'copy' && copy.syncSeq !== null;
    const partner = a.backup ?? (inSync ? a.target : null);
    if (a.primary !== primary.node.place.id || partner === null) return;
    if (rep.pendingCount > 0 || rep.ackedSeq !== rep.seq) return;
    let backup: SimPlace | undefined;
    for (const x of this.places)
      if (!x.crashed && x.node.place.id === partner) {
        backup = x;
        break;
      }
    if (backup === undefined || this.net.isPaused(backup.address)) return;
    const b = backup.node.place.replica(partition);
    if (
      b === undefined ||
      b.role !== 'backup' ||
      b.seq !== rep.seq ||
      b.epoch !== rep.epoch ||
      b.receivingSnapshot
    )
      return;
    // Compare a replica pair on its first sequence number, then every few (a difference persists).
    const last = this.matched[partition];
    if (last !== undefined && last.partner === partner && last.epoch === rep.epoch && rep.seq - last.seq < 4)
      return;
    this.matched[partition] = { partner, epoch: rep.epoch, seq: rep.seq };
    if (b.data.size !== rep.data.size) {
      this.fail(
        `backup ${partner} of partition ${partition} holds ${b.data.size} keys at seq ${b.seq}, its primary ${a.primary} ${rep.data.size}`,
      );
      return;
    }
    // forEach, not for-of over entries: no [key, value] array per key (this runs every few steps).
    let differing: string | null = null;
    const theirs = b.data;
    rep.data.forEach((v, k) => {
      if (differing === null && theirs.get(k) !== v) differing = k;
    });
    if (differing !== null)
      this.fail(
        `backup ${partner} of partition ${partition} differs from its primary on key ${differing} at seq ${b.seq}`,
      );
  }

  private crash(p: SimPlace, why: string): void {
    // An invalid verdict is for good, even when every place that knew it has died since.
    this.sawInvalid ??= p.node.place.invalid;
    this.faultAt.set(p.address, this.net.now);
    p.crashed = true;
    void p.node.stop();
    p.transport.crash();
    this.net.resume(p.address);
    this.faults++;
    this.log(`CRASH ${p.address} (${why})`);
  }

  private pickLive(filter: (p: SimPlace) => boolean = () => true): SimPlace | undefined {
    const candidates = this.live().filter(
      (p) => !this.net.isPaused(p.address) && p.node.place.id !== null && filter(p),
    );
    return candidates[Math.floor(this.random() * candidates.length)];
  }

  /** Injects one fault: a crash (of anyone, the leader or the deputy) or a pause past the failure timeout. */
  private injectFault(): void {
    const t = this.leaderTable();
    const leaderId = t === null ? null : (leaderOf(t)?.id ?? null);
    const r = this.random();
    if (r < 0.25) {
      const p = this.pickLive();
      if (p !== undefined) this.crash(p, 'random');
    } else if (r < 0.35) {
      const p = this.pickLive((x) => x.node.place.id === leaderId);
      if (p !== undefined) this.crash(p, 'leader');
    } else if (r < 0.45) {
      const deputyId = t === null ? undefined : votersOf(t)[1]?.id;
      const p = this.pickLive((x) => x.node.place.id === deputyId);
      if (p !== undefined) this.crash(p, 'deputy');
    } else if (r < 0.6 || !this.config.stalls) {
      const p = this.pickLive();
      if (p === undefined) return;
      // Past the failure timeout (the place is replaced), or a short stop that only costs it its lease.
      const ms = TIMEOUT_MS * (this.random() < 0.25 ? 0.5 + this.random() * 0.45 : 1.5 + this.random() * 2.5);
      this.net.pause(p.address);
      this.faultAt.set(p.address, this.net.now);
      this.faults++;
      this.log(`PAUSE ${p.address} for ${ms.toFixed(0)} ms`);
      this.net.scheduler.after(ms, () => {
        if (p.crashed) return;
        this.faultAt.set(p.address, this.net.now);
        this.net.resume(p.address);
        this.log(`RESUME ${p.address}`);
      });
      return;
    } else if (r < 0.7) {
      this.injectStall();
      return;
    } else {
      this.injectPartition(t);
      return;
    }
    // A dead place is replaced by a new spare, a little later.
    this.net.scheduler.after(500 + this.random() * 1500, () => {
      if (this.live().length < this.config.places + 1) {
        void this.startPlace(
          true,
          this.live().map((x) => x.address),
        );
      }
    });
  }

  /**
   * From a cut to its heal, polls whether the side holding a majority of the voters serves every
   * partition it holds a copy of: a leader with a lease there, and for each such partition a primary
   * there with a lease, not handing over, whose writes are not stuck on a backup it cannot reach (a
   * cut backup matters once a write waits for it). Fails when any stretch unserved, from the cut or
   * from when a write first waited, outlasts a failure timeout, a lease and 200 ms (the target of the
   * issue); records the longest stretch per cut.
   */
  private watchAvailability(
    start: number,
    cutMs: number,
    away: Set<string>,
    owed: number[],
    what: string,
  ): void {
    const limitMs = TIMEOUT_MS * 1.5 + 200;
    if (cutMs <= limitMs) return;
    const since = new Map<number, number>();
    let longest = 0;
    const poll = () => {
      if (this.failure !== null || this.sawInvalid !== null) return;
      const now = this.net.now;
      const side = this.live().filter((p) => !away.has(p.address) && this.up(p));
      const served = this.servedBy(side);
      for (const i of [-1, ...owed]) {
        const ok = i === -1 ? this.majorityLeads(side) : served.has(i);
        const from = since.get(i);
        if (ok) {
          if (from !== undefined) longest = Math.max(longest, now - from);
          since.delete(i);
        } else if (from === undefined) since.set(i, now - start <= 25 ? start : now);
        else if (now - from > limitMs) {
          this.fail(
            `the majority side of ${what} left ${i === -1 ? 'itself without a leader with a lease' : `partition ${i} unserved`} for over ${limitMs} ms`,
          );
          return;
        }
      }
      if (now - start < cutMs - 25) {
        this.net.scheduler.after(25, poll);
        return;
      }
      for (const from of since.values()) longest = Math.max(longest, now - from);
      this.unservedMs.push(Math.round(longest));
      this.log(`the majority side went at most ${longest.toFixed(0)} ms without serving a partition`);
    };
    this.net.scheduler.after(25, poll);
  }

  private majorityLeads(side: SimPlace[]): boolean {
    return side.some((p) => {
      const pt = p.node.place.tableData;
      return this.up(p) && pt !== null && leaderOf(pt)?.id === p.node.place.id && p.node.place.hasLease;
    });
  }

  private up(p: SimPlace): boolean {
    return !p.crashed && !this.net.isPaused(p.address) && p.node.place.id !== null;
  }

  /**
   * The partitions the places of side serve: as primary, with a lease, not handing over, and with no
   * writes waiting on a backup they cannot reach.
   */
  private servedBy(side: SimPlace[]): Set<number> {
    const served = new Set<number>();
    for (const p of side) {
      const place = p.node.place;
      const pt = place.tableData;
      if (pt === null || !place.hasLease) continue;
      for (let i = 0; i < pt.partitions.length; i++) {
        const rep = place.replica(i);
        if (rep?.role !== 'primary' || place.copyState(i).kind === 'handover') continue;
        const id = rep.oldestPendingSeq() === 0 ? null : (pt.partitions[i]?.backup ?? null);
        const backup = id === null ? undefined : pt.members.find((m) => m.id === id);
        if (
          backup === undefined ||
          (!this.net.isCut(p.address, backup.address) && !this.net.isCut(backup.address, p.address))
        )
          served.add(i);
      }
    }
    return served;
  }

  /**
   * A connection stalls for a while (TCP backing off after lost packets), then delivers in order: either
   * everything one place sends, or one link. Half the stalls in catastrophe mode, and a quarter in
   * normal mode, outlast the failure timeout: the place is replaced, and what it sent arrives late.
   */
  private injectStall(): void {
    const p = this.pickLive();
    if (p === undefined) return;
    const long = this.random() < (this.config.mode === 'catastrophe' ? 0.5 : 0.25);
    const ms = TIMEOUT_MS * (long ? 1.5 + this.random() * 2.5 : 0.2 + this.random() * 0.7);
    const peers = this.live().filter((x) => x !== p);
    const to =
      this.random() < 0.5 || peers.length === 0 ? null : peers[Math.floor(this.random() * peers.length)];
    this.stallEndMs = this.net.now + ms;
    this.net.stall(p.address, to?.address ?? null, this.stallEndMs);
    for (const x of [p, ...(to === null ? peers : [to])]) this.faultAt.set(x.address, this.stallEndMs);
    this.faults++;
    this.log(`STALL ${p.address} -> ${to?.address ?? 'all'} for ${ms.toFixed(0)} ms`);
  }

  /**
   * A network partition for 1.5 to 4.5 failure timeouts, then a heal: one place isolated (often the
   * leader or the deputy), the places split in two groups (the leader on either side), or the one
   * link between leader and deputy cut. Clients reach every side. Within a failure timeout, a lease
   * and 200 ms of the cut, the side holding a majority of the voters must serve again.
   */
  private injectPartition(t: TableData | null): void {
    const places = this.live().filter((p) => p.node.place.id !== null);
    if (t === null || places.length < 2) return;
    const voters = votersOf(t);
    const byId = (id: number | undefined) => places.find((p) => p.node.place.id === id);
    const r = this.random();
    let kind: string;
    let a: SimPlace[];
    let b: SimPlace[];
    if (r < 0.35) {
      const which = this.random();
      const one =
        (which < 0.3 ? byId(voters[0]?.id) : which < 0.6 ? byId(voters[1]?.id) : undefined) ??
        places[Math.floor(this.random() * places.length)]!;
      kind = 'isolate';
      a = [one];
      b = places.filter((p) => p !== one);
    } else if (r < 0.75) {
      const shuffled = [...places].sort(() => this.random() - 0.5);
      const size = 1 + Math.floor(this.random() * (shuffled.length - 1));
      kind = 'split';
      a = shuffled.slice(0, size);
      b = shuffled.slice(size);
    } else {
      // One link: leader and deputy, or a primary and its backup; both ways, one way, or flapping.
      const which = this.random();
      const withBackup = t.partitions.filter((x) => x.primary !== null && x.backup !== null);
      const pair =
        which < 0.5 || withBackup.length === 0
          ? [byId(voters[0]?.id), byId(voters[1]?.id)]
          : (() => {
              const x = withBackup[Math.floor(this.random() * withBackup.length)]!;
              return [byId(x.primary!), byId(x.backup!)];
            })();
      if (pair[0] === undefined || pair[1] === undefined) return;
      const shape = this.random();
      kind = shape < 0.4 ? 'link' : shape < 0.8 ? 'oneway' : 'flap';
      a = [pair[0]];
      b = [pair[1]];
    }
    const ms = TIMEOUT_MS * (1.5 + this.random() * 3);
    const cutAll = () => {
      for (const x of a)
        for (const y of b) {
          this.net.cut(x.address, y.address);
          if (kind !== 'oneway') this.net.cut(y.address, x.address);
        }
    };
    const healAll = () => {
      for (const x of a)
        for (const y of b) {
          this.net.heal(x.address, y.address);
          this.net.heal(y.address, x.address);
        }
    };
    cutAll();
    if (kind === 'flap') {
      // Cut and healed every few hundred ms until the end.
      let cut = true;
      for (let at = 300 + this.random() * 400; at < ms - 200; at += 300 + this.random() * 400) {
        cut = !cut;
        const now = cut;
        this.net.scheduler.after(at, () => (now ? cutAll() : healAll()));
      }
    }
    const start = this.net.now;
    this.partitionEndMs = start + ms;
    for (const x of [...a, ...b]) this.faultAt.set(x.address, this.partitionEndMs);
    this.faults++;
    const names = (g: SimPlace[]) => g.map((p) => p.node.place.id).join(',');
    this.log(
      `PARTITION ${kind} {${names(a)}} ${kind === 'oneway' ? '->' : '|'} {${names(b)}} for ${ms.toFixed(0)} ms`,
    );
    // The side with a majority of the voters (everyone, when only one link is cut).
    const voterIds = new Set(voters.map((v) => v.id));
    const count = (g: SimPlace[]) => g.filter((p) => voterIds.has(p.node.place.id!)).length;
    const majority =
      kind === 'link' || kind === 'oneway' || kind === 'flap'
        ? places
        : count(a) >= majorityOf(voters.length)
          ? a
          : count(b) >= majorityOf(voters.length)
            ? b
            : null;
    // Only with no other fault at the same time (normal mode): a crash of a voter during the cut
    // may leave no majority at all. A flapping link promises nothing while it flaps.
    if (majority !== null && kind !== 'flap' && this.config.mode === 'normal') {
      const inMajority = new Set(majority.map((p) => p.node.place.id));
      const owed = t.partitions
        .map((x, i) => (inMajority.has(x.primary ?? -1) || inMajority.has(x.backup ?? -1) ? i : -1))
        .filter((i) => i >= 0);
      // The side by address: a place of it that rejoins (as a spare, under a new id) is still on it.
      const minority = majority === places ? [] : majority === a ? b : a;
      const away = new Set(minority.map((p) => p.address));
      this.watchAvailability(start, ms, away, owed, `${kind} {${names(a)}}|{${names(b)}}`);
    }
    this.net.scheduler.after(ms, () => {
      healAll();
      for (const x of [...a, ...b]) this.faultAt.set(x.address, this.net.now);
      this.log('HEAL');
    });
  }

  /** Schedules faults: every few seconds, once the cluster is repaired (normal) or whenever (catastrophe). */
  private scheduleFaults(untilMs: number): void {
    const next = () => {
      const delay = 1000 + this.random() * 3000;
      this.net.scheduler.after(delay, () => {
        if (this.net.now > untilMs - 3000 || this.failure !== null) return;
        const faultInProgress =
          this.live().some((p) => this.net.isPaused(p.address)) ||
          this.net.now < this.stallEndMs ||
          this.net.now < this.partitionEndMs;
        if (
          this.config.mode === 'catastrophe' ||
          (!faultInProgress && this.repaired() && this.atFullStrength())
        ) {
          this.injectFault();
        }
        next();
      });
    };
    next();
  }

  /** Runs the seed to the end and judges it. */
  async run(): Promise<SimResult> {
    const cfg = this.config;
    const first = await this.startPlace(false, []);
    for (let i = 1; i < cfg.places; i++) await this.startPlace(false, [first.address]);
    await this.startPlace(true, [first.address]);
    const started = () => this.repaired() && this.live().every((p) => p.node.place.id !== null);
    await this.runUntil(started, 30_000);
    const clients = Array.from(
      { length: cfg.clients },
      (_, i) =>
        new StoreClient({
          seeds: this.places.map((p) => p.address),
          timeoutMs: 5000,
          transport: this.net.transport(`client-${i}`),
          scheduler: this.net.scheduler,
          clientId: `c${i}`,
          random: this.random,
        }),
    );
    const filler = 'x'.repeat(40);
    for (let i = 0; i < cfg.prefillKeys; i += 50) {
      const batch = Array.from({ length: Math.min(50, cfg.prefillKeys - i) }, (_, j) =>
        clients[0].put(`fill-${i + j}`, filler),
      );
      await this.settle(Promise.all(batch));
    }
    const startMs = this.net.now;
    const untilMs = startMs + cfg.seconds * 1000;
    const workload = new Workload(
      {
        clients: cfg.clients,
        keys: cfg.keys,
        seed: cfg.seed,
        untilNs: untilMs * 1e6,
        maxOpsPerClient: 1_000_000,
        ratePerSecond: cfg.rate,
        sleep: (ms) => new Promise<void>((r) => this.net.scheduler.after(ms, r)),
      },
      this.recorder,
    );
    const overwriting = this.overwriteFill(untilMs);
    this.scheduleFaults(untilMs);
    this.checking = true;
    let done = false;
    const running = workload.run(clients).finally(() => {
      done = true;
    });
    await this.runUntil(() => done || this.failure !== null, cfg.seconds * 1000 + 60_000);
    workload.stop();
    if (!done) await this.runUntil(() => done, 60_000).catch(() => {});
    await running.catch(() => {});
    await this.settle(overwriting).catch(() => {});
    this.sawInvalid ??= this.live().find((p) => p.node.place.invalid !== null)?.node.place.invalid ?? null;
    const invalid = this.sawInvalid !== null;
    let final: Record<string, unknown> | null = null;
    if (this.failure === null && !invalid) {
      // Let the cluster settle (paused places resume, repairs finish), then read every key.
      let stuck = false;
      // Every partition healed (and then 60 s at most to repair), paused places resumed.
      await this.runUntil(
        () =>
          this.net.now >= this.partitionEndMs &&
          this.repaired() &&
          this.live().every((p) => !this.net.isPaused(p.address)),
        Math.max(0, this.partitionEndMs - this.net.now) + 60_000,
      ).catch(() => {
        // With a majority of the voters crashed, nobody may decide anything: the store stops
        // answering ("no quorum"), which catastrophe mode allows (it never answers wrongly).
        // Silent last copies are declared lost only after lostAfterMs: the verdict may come late.
        const late = this.live().find((p) => p.node.place.invalid !== null)?.node.place.invalid ?? null;
        if (this.config.mode === 'catastrophe' && (this.quorumLost() || late !== null)) {
          stuck = true;
          this.sawInvalid ??= late;
        } else this.fail('the cluster did not repair within 60 s after the workload');
      });
      if (stuck) this.log('no quorum left: a majority of the voters crashed');
      final = stuck ? null : {};
      for (const key of stuck ? [] : workload.keys) {
        const v = await this.settle(clients[0].get(key)).catch((e: Error) => {
          this.fail(`final read of ${key} failed: ${e.message}`);
          return null;
        });
        final![key] = v ?? null;
      }
    }
    this.checking = false;
    for (const c of clients) void c.close();
    const operations = pairOperations(this.recorder.events);
    if (this.failure === null) {
      const verdict = checkHistory(operations, final, 60_000);
      const bad = verdict.keys.find((k) => k.verdict !== true);
      if (bad !== undefined) {
        const v = bad.violation;
        this.fail(
          bad.verdict === 'unknown'
            ? `checker gave up on key ${bad.key}`
            : `not linearizable on key ${bad.key}: ${v!.blocked.f} ${JSON.stringify(v!.blocked.f === 'read' ? v!.blocked.output : v!.blocked.input)} fits no order`,
        );
      }
      const lost = findLostWrites(operations, final);
      if (lost.length > 0 && !invalid)
        this.fail(
          `${lost.length} acknowledged writes lost, e.g. ${lost[0].key}=${JSON.stringify(lost[0].op.input)}`,
        );
    }
    if (invalid && cfg.mode === 'normal' && this.failure === null) {
      this.fail(`the store turned invalid under single failures: ${this.sawInvalid}`);
    }
    for (const p of this.live()) await p.node.stop();
    return {
      seed: cfg.seed,
      ok: this.failure === null,
      failure: this.failure,
      faults: this.faults,
      ops: operations.length,
      simulatedMs: Math.round(this.net.now),
      unservedMs: this.unservedMs,
      steps: this.steps,
      invalid: this.sawInvalid !== null,
    };
  }

  /**
   * Overwrites prefilled keys in the background until untilMs: copies then run under writes to keys
   * their snapshot has already read (the workload's keys come last in a partition's order), so a
   * copy that loses such a write leaves a backup that differs from its primary.
   */
  private async overwriteFill(untilMs: number): Promise<void> {
    if (this.config.prefillKeys === 0) return;
    const client = new StoreClient({
      seeds: this.places.map((p) => p.address),
      timeoutMs: 5000,
      transport: this.net.transport('client-filler'),
      scheduler: this.net.scheduler,
      clientId: 'filler',
      random: this.random,
    });
    for (let n = 0; this.net.now < untilMs && this.failure === null && n < 1_000_000; n++) {
      await new Promise<void>((r) => this.net.scheduler.after(20, r));
      const key = `fill-${Math.floor(this.random() * this.config.prefillKeys)}`;
      await client.put(key, `f${n}`).catch(() => {});
    }
    await client.close();
  }

  private async runUntil(cond: () => boolean, maxMs: number): Promise<void> {
    const deadline = this.net.now + maxMs;
    let sinceCheck = 0;
    while (!cond()) {
      if (this.steps >= this.config.maxSteps) throw new Error(`step limit ${this.config.maxSteps} reached`);
      if (this.checking && ++sinceCheck >= 128) {
        sinceCheck = 0;
        this.checkInvariants();
      }
      // Before virtual time moves on, promise callbacks (clients, the workload) run: they act "now".
      if (this.clientTouched && this.net.nextDue() > this.net.now) {
        this.clientTouched = false;
        for (let k = 0; k < 4; k++) await RESOLVED;
        if (cond()) return;
      }
      this.steps++;
      const stepped = this.net.step(deadline);
      const touched = this.net.lastStepFor;
      if (touched === null || touched.startsWith('client')) this.clientTouched = true;
      if (!stepped) {
        for (let k = 0; k < 8; k++) await Promise.resolve();
        if (cond()) return;
        throw new Error(`condition not reached within ${maxMs} simulated ms`);
      }
    }
  }

  private async settle<T>(p: Promise<T>): Promise<T> {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await this.runUntil(() => done, 30_000);
    return tracked;
  }
}

/** Runs one seed of the simulator and returns its result. */
export async function simulateSeed(
  seed: number,
  opts: Partial<typeof DEFAULT_SIM> & { defect?: Defect; trace?: (line: string) => void },
): Promise<SimResult> {
  return await new Simulator({ ...DEFAULT_SIM, ...opts, seed }).run();
}
