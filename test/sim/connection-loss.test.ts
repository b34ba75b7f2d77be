import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';

describe('a broken connection between live places loses nothing', () => {
  it('entries lost with the connection to the backup are sent again, and the write completes', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    await sim.net.runFor(300);
    const c = sim.client();
    await sim.settle(c.put('k', 'before'));
    const primary = sim.primaryOf('k');
    const backup = sim.backupOf('k');
    // The entry goes out on a connection that then breaks: it never arrives.
    let dropped = 0;
    sim.net.drop = (from, to, msg) => {
      if (from !== primary.address || to !== backup.address || msg.t !== 'replBatch') return false;
      dropped++;
      return true;
    };
    const write = c.put('k', 'after');
    await sim.net.runUntil(() => primary.node.place.replica(0)!.pendingCount === 1);
    sim.net.drop = () => false;
    expect(dropped).toBe(1);
    const started = sim.net.now;
    primary.transport.disconnect(backup.address);
    await sim.settle(write);
    // Sent again at once when the connection broke, not a failure timeout later by the stall check.
    expect(sim.net.now - started).toBeLessThan(500);
    expect(Buffer.from(backup.node.place.replica(0)!.data.get('k')!)).toEqual(
      Buffer.from(primary.node.place.replica(0)!.data.get('k')!),
    );
    expect(await sim.settle(c.get('k'))).toBe('after');
  });

  it('a copy whose pieces were lost with the connection starts again and completes', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 3, tuning: { snapshotPieceBytes: 64 } });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(300);
    const c = sim.client();
    await sim.settle(Promise.all(Array.from({ length: 60 }, (_, i) => c.put(`k${i}`, `value-${i}`))));
    const spare = sim.places[3];
    let held = 0;
    sim.net.drop = (_from, to, msg) => {
      if (to !== spare.address || msg.t !== 'snap' || held >= 3) return false;
      held++;
      return true;
    };
    sim.kill(sim.byId(1));
    await sim.net.runUntil(() => held >= 3, 30_000);
    // The connections to the spare break; the primaries start their copies again.
    for (const p of sim.places) if (p !== spare && !p.transport.dead) p.transport.disconnect(spare.address);
    await sim.net.runUntil(() => sim.repaired() && sim.leaderTable()!.members[1].state === 'dead', 30_000);
    const got = await sim.settle(Promise.all(Array.from({ length: 60 }, (_, i) => c.get(`k${i}`))));
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `value-${i}`));
  });
});

describe('a lost entry with no broken connection to notice', () => {
  it('is sent again once the write has made no progress for three quarters of a failure timeout', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    await sim.net.runFor(300);
    const c = sim.client({ timeoutMs: 5000 });
    const primary = sim.primaryOf('k');
    const backup = sim.backupOf('k');
    let lost = 0;
    sim.net.drop = (from, to, msg) => {
      if (lost > 0 || from !== primary.address || to !== backup.address || msg.t !== 'replBatch')
        return false;
      lost++;
      return true;
    };
    const started = sim.net.now;
    await sim.settle(c.put('k', 'v'), 10_000);
    expect(lost).toBe(1);
    expect(sim.net.now - started).toBeGreaterThanOrEqual(750);
    expect(Buffer.from(backup.node.place.replica(0)!.data.get('k')!).length).toBeGreaterThan(0);
    // The resend got through: the backup was not reported unreachable and keeps its role.
    expect(sim.backupOf('k')).toBe(backup);
  });
});

describe('a copy that hears nothing back', () => {
  it('starts again after a failure timeout when a piece is lost with no broken connection to tell (found in review)', async () => {
    const sim = new SimCluster({ partitionCount: 4, minPlaces: 3, tuning: { snapshotPieceBytes: 64 } });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(300);
    const c = sim.client();
    await sim.settle(Promise.all(Array.from({ length: 60 }, (_, i) => c.put(`k${i}`, `value-${i}`))));
    const spare = sim.places[3]!;
    // The second piece sent to the spare is lost; the connection stays up.
    let pieces = 0;
    sim.net.drop = (_from, to, msg) => to === spare.address && msg.t === 'snap' && ++pieces === 2;
    sim.kill(sim.byId(1));
    await sim.net.runUntil(() => sim.repaired() && sim.leaderTable()!.members[1]!.state === 'dead', 20_000);
    expect(pieces).toBeGreaterThan(2);
    const got = await sim.settle(Promise.all(Array.from({ length: 60 }, (_, i) => c.get(`k${i}`))));
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `value-${i}`));
  });
});

describe('a copy started again while its first attempt is still on its way', () => {
  it('never takes the old attempt for the new one: the backup it makes holds everything (found in review)', async () => {
    const sim = new SimCluster({
      partitionCount: 4,
      minPlaces: 3,
      tuning: { snapshotPieceBytes: 64, maxCopiesInFlight: 1 },
    });
    await sim.start(3, { spares: 1 });
    await sim.net.runFor(500);
    const c = sim.client({ seeds: [sim.places[0]!.address] });
    await sim.settle(Promise.all(Array.from({ length: 200 }, (_, i) => c.put(`k${i}`, `v${i}`))));
    await sim.net.runUntil(() => sim.repaired(), 30_000);
    const spare = sim.places[3]!;
    // The last piece of the first copy to the spare is held up for 1.5 s: the copy hears nothing back
    // for a failure timeout and starts again, and then the late piece arrives after all.
    let stalled = false;
    sim.net.drop = (from, to, msg) => {
      if (!stalled && msg.t === 'snap' && msg.last === true && to === spare.address) {
        stalled = true;
        sim.net.stall(from, to, sim.net.now + 1500);
      }
      return false;
    };
    sim.kill(sim.places[2]!);
    await sim.net.runUntil(() => stalled && sim.repaired(), 30_000);
    await sim.settle(Promise.all(Array.from({ length: 200 }, (_, i) => c.put(`k${i}`, `w${i}`))));
    // Every partition the spare now backs holds its primary's data.
    const t = sim.leaderTable()!;
    for (const [p, a] of t.partitions.entries()) {
      if (a.backup !== spare.node.place.id) continue;
      const primary = sim.byId(a.primary!).node.place.replica(p)!;
      expect([...spare.node.place.replica(p)!.data].sort()).toEqual([...primary.data].sort());
    }
    // And with the spare's partners gone, nothing acknowledged is lost.
    for (const id of new Set(
      t.partitions.filter((a) => a.backup === spare.node.place.id).map((a) => a.primary!),
    ))
      if (id !== 0) sim.kill(sim.byId(id));
    await sim.net.runFor(5000);
    const got = await sim.settle(Promise.all(Array.from({ length: 200 }, (_, i) => c.get(`k${i}`))), 30_000);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `w${i}`));
  });
});

describe('a resend of more than a frame holds', () => {
  it('goes as several frames under the frame limit, and the backup gets every entry', async () => {
    const sim = new SimCluster({ partitionCount: 1, minPlaces: 2 });
    await sim.start(2);
    await sim.net.runFor(300);
    const c = sim.client({ timeoutMs: 10_000 });
    const primary = sim.primaryOf('k');
    const backup = sim.backupOf('k');
    // 24 writes of 1 MiB each are lost on their way to the backup, with no broken connection to tell:
    // the resend after the stall carries them all, 24 MiB, more than one frame may (16 MiB).
    let losing = true;
    sim.net.drop = (from, to, msg) =>
      losing && from === primary.address && to === backup.address && msg.t === 'replBatch';
    const value = 'v'.repeat(1024 * 1024 - 64);
    const writes = Array.from({ length: 24 }, (_, i) => c.put(`big-${i}`, value));
    await sim.net.runUntil(() => primary.node.place.replica(0)!.pendingCount === 24);
    losing = false;
    await sim.settle(Promise.all(writes), 10_000);
    expect(sim.backupOf('k')).toBe(backup);
    for (let i = 0; i < 24; i++) expect(backup.node.place.replica(0)!.data.has(`big-${i}`)).toBe(true);
  });
});
