import { isRepaired, type LocalCluster } from '../cluster/LocalCluster.js';
import type { ClusterStatus } from '../protocol/wire/messages.js';

/** The faults `check --nemesis` can inject. */
export const FAULT_KINDS = ['kill', 'pause', 'kill-leader', 'kill-deputy'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One injected fault, from injection to repair, in recorder time (ns). */
export interface FaultRecord {
  kind: FaultKind;
  placeId: number;
  address: string;
  startNs: number;
  /** When the cluster was repaired again (NaN if it never was). */
  endNs: number;
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
  ) {}

  /** Injects the next fault of the rotation and resolves once the cluster is repaired (or repairTimeoutMs passed). */
  async injectOne(repairTimeoutMs: number): Promise<FaultRecord> {
    const kind = this.kinds[this.turn++ % this.kinds.length];
    const status = await this.cluster.status(3000);
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
