import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('admission control', () => {
  it('past the bound of requests in flight a place answers busy; the client backs off and gets through', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2, tuning: { maxRequestsInFlight: 4 } });
    await sim.start(2);
    await sim.net.runFor(300);
    const primary = sim.primaryOf('k0');
    const backup = sim.backupOf('k0');
    // The backup's acknowledgements are held back: writes stay in flight at the primary.
    let holdAcks = true;
    sim.net.drop = (from, _to, msg) => holdAcks && from === backup.address && msg.t === 'replAcks';
    let busy = 0;
    sim.net.onDeliver = (_from, _to, msg) => {
      if (msg.t === 'err' && msg.code === 'busy') busy++;
    };
    const c = sim.client({ timeoutMs: 20_000 });
    const puts = Array.from({ length: 12 }, (_, i) => c.put(`k${i}`, `v${i}`));
    await sim.net.runUntil(() => busy >= 8, 5_000);
    // Held at the bound, never past it.
    expect(primary.node.place.replica(0)!.pendingCount).toBe(4);
    holdAcks = false;
    // Acks lost while held are sent again after a stall; then the backed-off requests get through.
    await sim.settle(Promise.all(puts), 20_000);
    const got = await sim.settle(Promise.all(Array.from({ length: 12 }, (_, i) => c.get(`k${i}`))));
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => `v${i}`));
  });
});
