import type { Defects } from './defects.js';
import type { Limits } from './limits.js';
import type { Processor } from './requests/processors.js';

/** The clock a place reads; the runtime gives the real one, tests a virtual one. */
export interface Clock {
  now(): number;
}

/** Everything a place is configured with. */
export interface PlaceConfig {
  address: string;
  zone: string | null;
  spare: boolean;
  pid: number;
  /** Where this place serves HTTP (metrics, dashboard), told to the others through the table; none when absent. */
  httpAddress?: string | null;
  /** Where this place serves RESP (the Redis door), told to the others (and to Redis clients) through the table. */
  respAddress?: string | null;
  /** Places to join through, tried in turn; empty bootstraps a new cluster. */
  seeds: string[];
  partitionCount: number;
  /** Active places needed before partitions are assigned (the cluster forms). */
  minPlaces: number;
  limits: Limits;
  processors: Map<string, Processor>;
  /** A place silent for this long is declared dead. */
  failureTimeoutMs: number;
  /**
   * A place that holds the last copy of a partition is declared dead (the store turns invalid) only
   * once silent for this long: a shorter silence is more likely a cut link, and those partitions
   * wait for the heal.
   */
  lostAfterMs: number;
  /** Voters of a cluster this place bootstraps (the first this many live places by id). */
  voters: number;
  joinRetryMs: number;
  tableRetryMs: number;
  /** Remembered write results per partition, for exactly-once retries. */
  maxResultsPerPartition: number;
  /** Replication entries a backup buffers while an earlier one is missing. */
  maxOutOfOrder: number;
  /** Their bytes of keys and values, per partition (an entry past it is sent again later). */
  maxOutOfOrderBytes: number;
  /** Dead members the table keeps listed; older ones no partition names are pruned. */
  maxDeadMembers: number;
  /** Messages held while this place fetches a newer table. */
  maxDeferred: number;
  /** Their bytes (about), all together. */
  maxDeferredBytes: number;
  /** Writes of one partition waiting for its backup; beyond it new writes are refused (retry). */
  maxPendingWrites: number;
  /** Their bytes of keys and values; beyond it new writes are refused too. */
  maxPendingBytes: number;
  /** Client requests this place holds unanswered (waiting for a backup); beyond it new ones get 'busy'. */
  maxRequestsInFlight: number;
  /** Bytes of keys and values per piece of a whole-partition copy (each piece is one frame). */
  snapshotPieceBytes: number;
  /** Copies this place sends at once as a primary; more wait their turn (pacing). */
  maxCopiesInFlight: number;
  /** The runtime's tick period: a tick later than this was spent busy, and silence then is not others'. */
  tickMs: number;
  /** Defects wired in by the simulator (defects.ts); none in a real place. */
  defects?: Defects;
}

/** Sensible defaults for the tuning part of PlaceConfig. */
export const DEFAULT_TUNING = {
  partitionCount: 271,
  minPlaces: 2,
  failureTimeoutMs: 1000,
  lostAfterMs: 15_000,
  voters: 3,
  joinRetryMs: 500,
  tableRetryMs: 300,
  maxResultsPerPartition: 4096,
  maxOutOfOrder: 65_536,
  maxOutOfOrderBytes: 64 * 1024 * 1024,
  maxDeadMembers: 64,
  maxDeferred: 10_000,
  maxDeferredBytes: 64 * 1024 * 1024,
  maxPendingWrites: 65_536,
  maxPendingBytes: 64 * 1024 * 1024,
  maxRequestsInFlight: 16_384,
  snapshotPieceBytes: 256 * 1024,
  maxCopiesInFlight: 2,
  tickMs: 50,
} as const;

/** Heartbeat period: five per failure timeout. */
export function heartbeatMs(config: PlaceConfig): number {
  return Math.max(1, Math.floor(config.failureTimeoutMs / 5));
}
