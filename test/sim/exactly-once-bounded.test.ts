import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/client/errors.js';
import { StoreClient } from '../../src/client/StoreClient.js';
import { SimCluster } from '../../src/sim/SimCluster.js';
import { seededRandom } from '../../src/util/random.js';

/** One partition on two places that keep at most `outcomes` outcomes (and sessions). */
async function tiny(outcomes: number): Promise<SimCluster> {
  const sim = new SimCluster({
    partitionCount: 1,
    minPlaces: 2,
    tuning: { maxResultsPerPartition: outcomes },
  });
  await sim.start(2);
  await sim.net.runFor(300);
  return sim;
}

describe('exactly-once when the places no longer keep an outcome', () => {
  it('a retry whose outcome was dropped is told so and not run again', async () => {
    const sim = await tiny(4);
    const a = sim.client();
    await sim.settle(a.put('n', 0));
    const aName = sim.transportOf(a).name;
    // a's increment runs, but its answers are lost, and its retries held back, until ten other
    // clients have made the places drop what they kept of a.
    let holding = true;
    sim.net.drop = (_from, to, msg) =>
      holding &&
      ((to !== aName && msg.t === 'op' && msg.c === a.clientId && msg.r === 1) ||
        (to === aName && msg.t === 'res'));
    const increment = sim.settle(a.submitToKey('n', 'increment', 1), 10_000).catch((e: unknown) => e);
    await sim.net.runUntil(
      () => sim.primaryOf('n').node.place.replica(0)!.remembered(a.clientId, 2) !== undefined,
    );
    for (let i = 0; i < 10; i++) await sim.settle(sim.client().put(`other-${i}`, i));
    expect(sim.primaryOf('n').node.place.replica(0)!.remembered(a.clientId, 2)).toBeUndefined();
    holding = false;
    const err = await increment;
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).maybeApplied).toBe(true);
    expect((err as Error).message).toMatch(/outcome of request \d+ is unknown.*not run again/);
    // It ran once.
    expect(await sim.settle(a.get('n'))).toBe(1);
  });

  it('many clients on one counter with tiny bounds and lost answers: the counter is the acknowledged increments plus some of the unknown ones', async () => {
    const sim = await tiny(8);
    const setup = sim.client();
    await sim.settle(setup.put('n', 0));
    const random = seededRandom(7);
    // A tenth of the answers to clients are lost: each such request is retried.
    sim.net.drop = (_from, to, msg) => to.startsWith('client') && msg.t === 'res' && random() < 0.1;
    let acked = 0;
    let unknown = 0;
    const clients = Array.from({ length: 40 }, () => sim.client({ timeoutMs: 20_000 }));
    await sim.settle(
      Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 10; i++) {
            try {
              await c.submitToKey('n', 'increment', 1);
              acked++;
            } catch (err) {
              if (!(err instanceof UnavailableError) || !err.maybeApplied) throw err;
              unknown++;
            }
          }
        }),
      ),
      120_000,
    );
    sim.net.drop = () => false;
    const n = (await sim.settle(setup.get('n'))) as number;
    expect(acked + unknown).toBe(400);
    expect(n).toBeGreaterThanOrEqual(acked);
    // Nothing ran twice (without the rule, retries whose outcome was dropped ran again).
    expect(n).toBeLessThanOrEqual(acked + unknown);
    expect(unknown).toBeGreaterThan(0);
  });

  it("a client started again under the same name is not answered from the earlier one's outcomes", async () => {
    const sim = await tiny(64);
    const named = () =>
      new StoreClient({
        seeds: [sim.places[0]!.address],
        timeoutMs: 5000,
        transport: sim.net.transport(`client-${Math.random()}`),
        scheduler: sim.net.scheduler,
        clientId: 'worker',
      });
    // Both send their first operation as request 1: the same name, ids started again.
    expect(await sim.settle(named().compareAndSwap('lock', undefined, 'first'))).toBe(true);
    expect(await sim.settle(named().compareAndSwap('lock', undefined, 'second'))).toBe(false);
    expect(await sim.settle(named().get('lock'))).toBe('first');
  });
});
