import type { Defect } from '../protocol/defects.js';
import { BATCH_ENTRY_FIELDS } from '../protocol/wire/messages.js';
import type { WireMessage } from '../transport/Transport.js';

/** One simulated run. */
export interface SimConfig {
  seed: number;
  /** Active places at the start (a spare more is started too). */
  places: number;
  clients: number;
  keys: number;
  /** Simulated seconds of workload. */
  seconds: number;
  /** Upper bound on simulation steps (message deliveries and timer firings). */
  maxSteps: number;
  /** normal: one failure at a time, the next after repair. catastrophe: failures may overlap. */
  mode: 'normal' | 'catastrophe';
  /** Operations per simulated second, across all clients. */
  rate: number;
  /** How messages travel: encoded as on the wire, shared (faster), or shared and frozen (MemoryNetwork.copy). */
  copy: 'wire' | 'shared' | 'frozen';
  /** Keys written before the workload, so copies of partitions take several pieces. */
  prefillKeys: number;
  /** Bytes per snapshot piece (small, so that copies overlap with writes). */
  snapshotPieceBytes: number;
  /** Connections may stall (off: the fault mix of earlier versions, for replaying their seeds). */
  stalls: boolean;
  /**
   * Simulated processing time, ms per unit of work: every message a place handles or sends is one
   * unit, plus one per key it copies or entry it replicates. Its process does nothing else meanwhile.
   */
  workMsPerUnit: number;
  defect?: Defect;
  /** Receives every trace line (deliveries, faults, operations), in order. */
  trace?: (line: string) => void;
}

/** What one seed did. */
export interface SimResult {
  seed: number;
  ok: boolean;
  /** The first breach: an invariant, a non-linearizable history, a lost write. */
  failure: string | null;
  faults: number;
  ops: number;
  simulatedMs: number;
  steps: number;
  invalid: boolean;
  /** Per partition fault (normal mode): the longest the majority side left a partition unserved, ms. */
  unservedMs: number[];
}

export const DEFAULT_SIM: Omit<SimConfig, 'seed'> = {
  places: 5,
  clients: 4,
  keys: 4,
  seconds: 30,
  maxSteps: 2_000_000,
  mode: 'normal',
  rate: 100,
  copy: 'shared',
  prefillKeys: 1000,
  snapshotPieceBytes: 128,
  stalls: true,
  workMsPerUnit: 0.01,
};

/** Units of work in a message (see SimConfig.workMsPerUnit): one, plus its keys or entries. */
export function workUnits(msg: WireMessage): number {
  if (msg.t === 'snap' && Array.isArray(msg.kv)) return 1 + msg.kv.length / 2;
  if (msg.t === 'replBatch' && Array.isArray(msg.es)) return 1 + msg.es.length / BATCH_ENTRY_FIELDS;
  return 1;
}
