import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { Place } from '../../src/protocol/Place.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../../src/protocol/PlaceConfig.js';
import { processorRegistry } from '../../src/protocol/requests/processors.js';
import type { TableData } from '../../src/protocol/table/PartitionTable.js';

const ME = 2;

function config(): PlaceConfig {
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
  };
}

/** Three places, 0 leading; place 2 is primary of partition 2. */
function table(version: number): TableData {
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

describe("a member whose leader's answers come with a newer table than it holds", () => {
  it('holds no lease until it has that table, and holds one as soon as it has', () => {
    let now = 10_000;
    const place = new Place(config(), { now: () => now });
    place.start();
    place.step('p0', { t: 'tableUpdate', tv: 5, table: table(5) });
    expect(place.id).toBe(ME);
    expect(place.hasLease).toBe(false);
    now += 10;
    // The leader answered a heartbeat sent just now, judging this place by its table 6.
    const sentAt = now - 5;
    place.step('p0', { t: 'hbAck', tv: 6, term: 1, id: 0, ts: sentAt, lr: 500 });
    expect(place.hasLease).toBe(false);
    now += 20;
    // While the leader goes on changing its table (a repair), every answer is a step ahead: once the
    // table of the answer has arrived, the answer counts, without waiting for the next heartbeat.
    place.step('p0', { t: 'tableUpdate', tv: 6, table: table(6) });
    expect(place.hasLease).toBe(true);
    // From the send time of the heartbeat it answered, for at most half a failure timeout.
    now = sentAt + DEFAULT_TUNING.failureTimeoutMs / 2 - 1;
    expect(place.hasLease).toBe(true);
    now += 2;
    expect(place.hasLease).toBe(false);
  });

  it('takes no lease from such an answer when the table that arrives is of another term', () => {
    let now = 10_000;
    const place = new Place(config(), { now: () => now });
    place.start();
    place.step('p0', { t: 'tableUpdate', tv: 5, table: table(5) });
    now += 10;
    place.step('p0', { t: 'hbAck', tv: 6, term: 1, id: 0, ts: now - 5, lr: 500 });
    // A new term led by place 1: the old leader's answer says nothing of it.
    const next = {
      ...table(6),
      term: 2,
      members: table(6).members.map((m) => (m.id === 0 ? { ...m, state: 'dead' as const } : m)),
    };
    place.step('p1', { t: 'tableUpdate', tv: 6, table: next });
    expect(place.hasLease).toBe(false);
  });
});
