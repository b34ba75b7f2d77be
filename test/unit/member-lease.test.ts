import { describe, expect, it } from 'vitest';
import { Place } from '../../src/protocol/Place.js';
import { DEFAULT_TUNING } from '../../src/protocol/PlaceConfig.js';
import { config, ME, table } from '../support/placeFixture.js';

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
