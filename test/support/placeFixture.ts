import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../../src/protocol/PlaceConfig.js';
import { processorRegistry } from '../../src/protocol/requests/processors.js';
import type { TableData } from '../../src/protocol/table/PartitionTable.js';

/** A Place driven by hand in unit tests: its id in table(), and its configuration. */
export const ME = 2;

/** The configuration of place ME, with overrides. */
export function config(over: Partial<PlaceConfig> = {}): PlaceConfig {
  return {
    ...DEFAULT_TUNING,
    address: `p${ME}`,
    zone: null,
    spare: false,
    pid: 100 + ME,
    seeds: ['p0'],
    partitionCount: 3,
    minPlaces: 3,
    limits: DEFAULT_LIMITS,
    processors: processorRegistry(),
    snapshotPieceBytes: 64 * 1024,
    lostAfterMs: 15_000,
    maxCopiesInFlight: 4,
    defects: new Set(),
    ...over,
  };
}

/** Three places, 0 leading; place i is primary of partition i and backup of partition i - 1. */
export function table(version: number): TableData {
  return {
    version,
    term: 1,
    formed: true,
    minPlaces: 3,
    voters: 3,
    valid: true,
    invalidReason: null,
    members: [0, 1, 2].map((id) => ({ id, address: `p${id}`, zone: null, pid: 100 + id, state: 'active' })),
    partitions: [0, 1, 2].map((id) => ({
      primary: id,
      backup: (id + 1) % 3,
      target: null,
      epoch: 1,
      state: 'ok',
    })),
  };
}
