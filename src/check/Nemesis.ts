import type { StoreClient } from '../client/StoreClient.js';
import { isRepaired, type LocalCluster } from '../cluster/LocalCluster.js';
import type { NetnsHosts } from '../cluster/NetnsHosts.js';
import { partitionOfKey } from '../protocol/table/keyPartition.js';
import type { ClusterStatus } from '../protocol/wire/messages.js';

/** The faults `check --nemesis` can inject. */
export const FAULT_KINDS = [
  'kill',
  'pause',
  'kill-leader',
  'kill-deputy',
  'partition-isolate',
  'partition-split',
  'partition-link',
  'partition-oneway',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** True for the faults that cut links between hosts (they need places in network namespaces). */
export function isPartition(kind: FaultKind): boolean {
  return kind.startsWith('partition-');
}

/** One injected fault, from injection to repair, in recorder time (ns). */
export interface FaultRecord {
  kind: FaultKind;
  placeId: number;
  address: string;
  startNs: number;
  /** When the cluster was repaired again (NaN if it never was). */
  endNs: number;
  /** Partitions: the cut, as "{ids} | {ids}" (or "a -> b" one way), and when it healed (ns). */
  cut?: string;
  healNs?: number;
  /**
   * Partitions: the longest any key served by the majority side went without a completed write
   * during the cut (ms), measured by probe writes to keys of every partition.
   */
  majorityUnavailableMs?: number;
}

/** Waits the given milliseconds (real time). */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Injects faults into a local cluster one at a time: SIGKILL of a random place, of the leader or of the
 * deputy, or SIGSTOP of a random place for three failure timeouts, then SIGCONT; after each, it waits
 * until the cluster is repaired (killed places come back as spares through the cluster's respawn).
 */
export class Nemesis {
  readonly faults: FaultRecord[] = [];
  private turn = 0;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly kinds: readonly FaultKind[],
    private readonly random: () => number,
    private readonly nowNs: () => number,
    private readonly expectedPlaces: number,
    private readonly hosts?: NetnsHosts,
  ) {}

  /** Injects the next fault of the rotation and resolves once the cluster is repaired (or repairTimeoutMs passed). */
  async injectOne(repairTimeoutMs: number): Promise<FaultRecord> {
    const kind = this.kinds[this.turn++ % this.kinds.length]!;
    const status = await this.cluster.status(3000);
    if (isPartition(kind)) return await this.partition(kind, status, repairTimeoutMs);
    const live = status.places.filter((p) => p.state !== 'dead');
    const targetId =
      kind === 'kill-leader'
        ? status.leader
        : kind === 'kill-deputy'
          ? status.deputy
          : live[Math.floor(this.random() * live.length)]?.id;
    const target = status.places.find((p) => p.id === targetId);
    if (target === undefined) throw new Error(`no place to ${kind}`);
    const record: FaultRecord = {
      kind,
      placeId: target.id,
      address: target.address,
      startNs: this.nowNs(),
      endNs: Number.NaN,
    };
    this.faults.push(record);
    if (kind === 'pause') {
      process.kill(target.pid, 'SIGSTOP');
      try {
        await sleep(status.failureTimeoutMs * 3);
      } finally {
        process.kill(target.pid, 'SIGCONT');
      }
    } else {
      process.kill(target.pid, 'SIGKILL');
    }
    await this.waitRepaired(target.id, repairTimeoutMs);
    record.endNs = this.nowNs();
    return record;
  }

  /**
   * Cuts links between the places' hosts for two to five failure timeouts, then heals, and waits
   * for the repair: one place isolated (the leader half the time), the places split in two groups,
   * the leader-deputy link cut both ways, or one direction of one link (from the leader, or from a
   * primary to its backup). Meanwhile probe writes measure how long the majority side went without
   * completing a write on keys it serves.
   */
  private async partition(
    kind: FaultKind,
    status: ClusterStatus,
    repairTimeoutMs: number,
  ): Promise<FaultRecord> {
    const hosts = this.hosts;
    if (hosts === undefined) throw new Error(`${kind} needs places on namespaced hosts`);
    const live = status.places.filter((p) => p.state !== 'dead');
    const hostOf = (p: { address: string }) => hosts.indexOf(p.address.slice(0, p.address.lastIndexOf(':')));
    const pick = <T>(xs: T[]): T => xs[Math.floor(this.random() * xs.length)]!;
    const byId = (id: number | null) => live.find((p) => p.id === id);
    let a: typeof live;
    let b: typeof live;
    let oneWay = false;
    if (kind === 'partition-isolate') {
      const one = (this.random() < 0.5 ? byId(status.leader) : undefined) ?? pick(live);
      a = [one];
      b = live.filter((p) => p !== one);
    } else if (kind === 'partition-split') {
      const shuffled = [...live].sort(() => this.random() - 0.5);
      const size = 1 + Math.floor(this.random() * (shuffled.length - 1));
      a = shuffled.slice(0, size);
      b = shuffled.slice(size);
    } else if (kind === 'partition-link') {
      a = [byId(status.leader) ?? pick(live)];
      b = [byId(status.deputy) ?? pick(live.filter((p) => p !== a[0]))];
    } else {
      oneWay = true;
      const withBackup = status.partitions.filter((p) => p.primary !== null && p.backup !== null);
      const part = this.random() < 0.5 ? undefined : pick(withBackup);
      const from = (part === undefined ? byId(status.leader) : byId(part.primary)) ?? pick(live);
      const to = (part === undefined ? undefined : byId(part.backup)) ?? pick(live.filter((p) => p !== from));
      a = [from];
      b = [to];
    }
    const ids = (g: typeof live) => g.map((p) => p.id).join(',');
    const cut = oneWay ? `${a[0]!.id} -> ${b[0]!.id}` : `{${ids(a)}} | {${ids(b)}}`;
    const record: FaultRecord = {
      kind,
      placeId: a[0]!.id,
      address: a[0]!.address,
      startNs: this.nowNs(),
      endNs: Number.NaN,
      cut,
    };
    this.faults.push(record);
    const voters = new Set(status.voters);
    const majority =
      voters.size === 0
        ? null
        : [a, b].find((g) => g.filter((p) => voters.has(p.id)).length * 2 > voters.size);
    const probe = await PartitionProbe.start(this.cluster, status.partitions.length);
    const cutAtMs = Date.now();
    try {
      for (const x of a)
        for (const y of b) {
          await hosts.cut(hostOf(x), hostOf(y));
          if (!oneWay) await hosts.cut(hostOf(y), hostOf(x));
        }
      await sleep(status.failureTimeoutMs * (2 + this.random() * 3));
      // Which keys the majority side serves: the majority's newest table, just before the heal.
      // Only one link is cut (one way or both): everyone else still reaches a majority.
      const served = oneWay || kind === 'partition-link' ? live : majority;
      if (served !== undefined && served !== null) {
        const view = await newestStatus(
          this.cluster,
          served.map((p) => p.address),
        );
        if (view !== null) {
          const mine = new Set(served.map((p) => p.id));
          record.majorityUnavailableMs = probe.longestGapMs(cutAtMs, Date.now(), (p) => {
            const owner = view.partitions[p];
            return owner !== undefined && owner.primary !== null && mine.has(owner.primary);
          });
        }
      }
    } finally {
      await hosts.healAll();
      record.healNs = this.nowNs();
      await probe.stop();
    }
    await this.waitRepaired(null, repairTimeoutMs);
    record.endNs = this.nowNs();
    return record;
  }

  /** Resolves once the failed place is marked dead, every place is back, and every partition is ok. */
  async waitRepaired(failed: number | null, timeoutMs: number): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no status';
    while (Date.now() < deadline) {
      try {
        const s = await this.cluster.status(2000);
        const live = s.places.filter((p) => p.state !== 'dead').length;
        const failedGone = failed === null || s.places.find((p) => p.id === failed)?.state === 'dead';
        if (failedGone && live >= this.expectedPlaces && isRepaired(s)) return s;
        last = `valid=${s.valid}, ${live} of ${this.expectedPlaces} places live, ${s.partitions.filter((p) => p.state !== 'ok').length} partitions not ok`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`the cluster was not repaired within ${timeoutMs} ms (${last})`);
  }
}

/** The status with the newest table among the places at these addresses (each asked on its own), or null. */
async function newestStatus(cluster: LocalCluster, addresses: string[]): Promise<ClusterStatus | null> {
  let best: ClusterStatus | null = null;
  for (const address of addresses) {
    let client: StoreClient | undefined;
    try {
      client = await cluster.connectTo([address], 1000);
      const s = await client.status();
      if (best === null || s.term > best.term || (s.term === best.term && s.tableVersion > best.tableVersion))
        best = s;
    } catch {
      // cut off or redirected to a place it cannot reach: others answer
    } finally {
      await client?.close();
    }
  }
  return best;
}

/**
 * Writes, one after another, to one key of every partition during a partition fault, and keeps when
 * each write completed: the longest stretch without one, on the partitions a side serves, is that
 * side's unavailability.
 */
class PartitionProbe {
  private readonly done: number[][];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  private constructor(
    private readonly client: StoreClient,
    private readonly keys: string[],
  ) {
    this.done = keys.map(() => []);
  }

  /** Probes up to 32 partitions spread over all of them, each written every 50 ms at most. */
  static async start(cluster: LocalCluster, partitionCount: number): Promise<PartitionProbe> {
    const keys: string[] = new Array(partitionCount);
    const step = Math.max(1, Math.floor(partitionCount / 32));
    const wanted = new Set<number>();
    for (let p = 0; p < partitionCount && wanted.size < 32; p += step) wanted.add(p);
    let found = 0;
    for (let i = 0; found < wanted.size && i < partitionCount * 1000; i++) {
      const p = partitionOfKey(`probe-${i}`, partitionCount);
      if (wanted.has(p) && keys[p] === undefined) {
        keys[p] = `probe-${i}`;
        found++;
      }
    }
    const client = await cluster.connectTo(cluster.seeds, 600);
    const probe = new PartitionProbe(client, keys);
    for (const [p, key] of keys.entries()) if (key !== undefined) probe.loops.push(probe.loop(p, key));
    return probe;
  }

  private async loop(p: number, key: string): Promise<void> {
    for (let n = 0; !this.stopped && n < 1_000_000; n++) {
      try {
        await this.client.put(key, n);
        this.done[p]!.push(Date.now());
        await sleep(50);
      } catch {
        // unavailable for now: the gap grows
      }
    }
  }

  /** The longest gap (ms) between completed writes within [fromMs, toMs] on partitions that count. */
  longestGapMs(fromMs: number, toMs: number, counts: (partition: number) => boolean): number {
    let longest = 0;
    for (const [p, times] of this.done.entries()) {
      if (this.keys[p] === undefined || !counts(p)) continue;
      let prev = fromMs;
      for (const t of times) {
        if (t < fromMs) continue;
        if (t > toMs) break;
        longest = Math.max(longest, t - prev);
        prev = t;
      }
      longest = Math.max(longest, toMs - prev);
    }
    return longest;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client.close();
  }
}
