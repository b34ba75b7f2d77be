import { describe, expect, it } from 'vitest';
import { type DEFAULT_SIM, type Defect, simulateSeed } from '../../src/sim/Simulator.js';

async function traceOf(seed: number): Promise<string> {
  const lines: string[] = [];
  await simulateSeed(seed, { seconds: 10, trace: (l) => lines.push(l) });
  return lines.join('\n');
}

/** Runs seeds from 1 until one fails; returns the first failing seed, or null. */
async function firstFailing(
  defect: Defect | undefined,
  maxSeeds: number,
  mode: 'normal' | 'catastrophe' = 'normal',
  more: Partial<typeof DEFAULT_SIM> = {},
): Promise<{ seed: number; failure: string } | null> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = await simulateSeed(seed, { defect, mode, ...more });
    if (!r.ok) return { seed, failure: r.failure! };
  }
  return null;
}

describe('deterministic simulation', () => {
  it('the same seed gives the same trace, byte for byte; another seed gives another', async () => {
    const a = await traceOf(7);
    const b = await traceOf(7);
    const c = await traceOf(8);
    expect(a.length).toBeGreaterThan(10_000);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a).toMatch(/CRASH|PAUSE/);
  });

  it('seed 2826 (found by the 10,000-seed campaign) gives no wrong verdict after back-to-back cuts', async () => {
    // The leader, cut off for a while, granted its vote at the heal to the third-ranked voter, whose
    // first table declared the leader and the live deputy dead: all 16 partitions "lost". A place that
    // leads by its table grants no vote now.
    expect((await simulateSeed(2826, {})).failure).toBeNull();
  });

  it('seed 1346 (found by the 10,000-seed campaign) gives the next fault only once every place is a member again', async () => {
    // A split left the leader's side with two places, which declared the other four dead. Right after
    // the heal, before those had joined again, the deputy crashed: two voters, one left, no majority
    // ever again. That is two failures at once, which normal mode does not inject: its next fault now
    // waits until the places declared dead are members again.
    expect((await simulateSeed(1346, {})).failure).toBeNull();
  });

  it('seed 1512 (found by the 10,000-seed campaign) loses nothing to a cut that healed', async () => {
    // The heal broke the primary's connection to its backup twice in one instant; the resend after
    // the first was lost with the second, and the second was skipped (one resend per retry period).
    // Nothing moved for two failure timeouts, so the primary reported the backup unreachable; the
    // leader took it off, and the primary crashed next: its partitions were lost. Now a skipped
    // resend happens when the period is over (test/sim/partitions.test.ts), and a heal of a cut both
    // ways breaks connections once.
    expect((await simulateSeed(1512, {})).failure).toBeNull();
  });

  it('seed 5095 (found by the 10,000-seed campaign) serves again within the bound while a primary cannot reach the leader', async () => {
    // A link cut one way, from a primary to the leader, just as that primary's copies to a new spare
    // were ending: it held their only complete copy, so it was kept, without a lease; and its reports
    // that the copies were complete never reached the leader, so the spare never became their backup.
    // The report now also goes through the copy's target, which passes it on to the leader.
    expect((await simulateSeed(5095, {})).failure).toBeNull();
  });

  it('seed 8866 (found by the 10,000-seed campaign) keeps both copies: a place taken back under a new id reports no stale stall', async () => {
    // A place declared dead and taken back as a spare kept, per partition, the stall it had measured
    // as a primary under its old id. Made primary again, it named its new, healthy backup unreachable
    // at once; the leader took that backup off, and the next crash lost the partitions' last copy.
    expect((await simulateSeed(8866, {})).failure).toBeNull();
  });

  it('seed 1820 (found by a partition campaign) keeps one primary per partition', async () => {
    // A place cut off, holding a last copy, is demoted (its other primaries go to their backups) in a
    // table not yet committed; heard again meanwhile, it was given a lease on its old table: two
    // primaries at once. A member whose primaries a pending table takes gets no lease now.
    expect((await simulateSeed(1820, {})).failure).toBeNull();
  });

  it('a few hundred seeds of single failures pass every invariant and the checker', async () => {
    const failed: string[] = [];
    let faults = 0;
    let ops = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = await simulateSeed(seed, {});
      faults += r.faults;
      ops += r.ops;
      if (!r.ok) failed.push(`seed ${seed}: ${r.failure}`);
    }
    expect(failed).toEqual([]);
    expect(faults).toBeGreaterThan(1000);
    expect(ops).toBeGreaterThan(200_000);
  }, 120_000);

  it('no place or client changes a message once sent or received: seeds with every message frozen pass', async () => {
    // The campaign's shared mode hands a place's message object itself to its receiver; it relies on this.
    const failed: string[] = [];
    for (const mode of ['normal', 'catastrophe'] as const)
      for (let seed = 1; seed <= 8; seed++) {
        const r = await simulateSeed(seed, { mode, copy: 'frozen' });
        if (!r.ok) failed.push(`${mode} seed ${seed}: ${r.failure}`);
      }
    expect(failed).toEqual([]);
  }, 60_000);

  it('partitions of every shape are part of the fault mix, and each heals', async () => {
    const kinds = new Map<string, number>();
    let heals = 0;
    for (let seed = 1; seed <= 30; seed++) {
      await simulateSeed(seed, {
        trace: (l) => {
          const m = / PARTITION (\w+) /.exec(l);
          if (m !== null) kinds.set(m[1]!, (kinds.get(m[1]!) ?? 0) + 1);
          if (l.endsWith(' HEAL')) heals++;
        },
      });
    }
    expect([...kinds.keys()].sort()).toEqual(['flap', 'isolate', 'link', 'oneway', 'split']);
    expect(heals).toBe([...kinds.values()].reduce((a, b) => a + b, 0));
  }, 120_000);

  it('catastrophe seeds found by campaigns (64, 125, 362, 437, 753, 3298, 3779) reach a verdict and keep one cluster', async () => {
    // Their traces have changed since (control lanes, paced copies, simulated work); they stay as seeds
    // that once failed. 437: a deposed leader, cut off, wrote everyone off and led alone beside the new leader.
    // 362: a deputy that answered once and then died kept the others waiting for its takeover forever.
    // 125: a new leader counted a member that answered it but heartbeated the old leader as silent.
    // 64 (found by a partition campaign): a leader declared dead a member its answers reached late
    // (one way stalled), while a lease it had just granted still ran: two primaries at once.
    // 3298: a candidate required a majority of the voters of a lagging voter's old table, long dead.
    // 3779: a place that its newest stored table declared dead kept standing, raising the term past
    // the voter that could have led. 753: a takeover's table made crashed places voters: no quorum,
    // which the simulator now accepts as a verdict when a majority of some stored table's voters crashed.
    for (const seed of [64, 125, 362, 437, 753, 3298, 3779]) {
      const r = await simulateSeed(seed, { mode: 'catastrophe' });
      expect(r.failure, `seed ${seed}`).toBeNull();
    }
  });

  it('with overlapping failures, every answer is right or the store says it is invalid', async () => {
    const failed: string[] = [];
    let invalid = 0;
    // Seeds 73 and 84 end in an invalid verdict (both copies of some partitions crashed): it must be a
    // right one, with every answer before it right too.
    for (const seed of [...Array.from({ length: 40 }, (_, i) => i + 1), 73, 84]) {
      const r = await simulateSeed(seed, { mode: 'catastrophe' });
      if (r.invalid) invalid++;
      if (!r.ok) failed.push(`seed ${seed}: ${r.failure}`);
    }
    expect(failed).toEqual([]);
    expect(invalid).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

describe('the simulator catches known defects wired into it', () => {
  it('a primary serving without a valid lease: caught within 20 seeds', async () => {
    const found = await firstFailing('lease-ignored', 20);
    expect(found?.failure).toMatch(/both act as primary|both lead with a lease/);
  }, 60_000);

  it('a leader acting before a majority of voters stored its table: caught within 3 seeds', async () => {
    const found = await firstFailing('no-deputy-ack', 3);
    expect(found?.failure).toMatch(/leader committed table \d+\.\d+ but only \d+ of its \d+ voters hold it/);
  }, 60_000);

  it('a candidate that takes over on its own vote: caught within 3 seeds', async () => {
    // It declares the live voters ranked before it dead, and with them copies the store still had.
    const found = await firstFailing('takeover-without-majority', 3);
    expect(found?.failure).toMatch(
      /invalid under single failures|declared dead though no fault|both lead with a lease|no leader with a lease|without a leader with a lease|both act as primary|two primaries for partition|epoch would go back/,
    );
  }, 60_000);

  it('a voter that grants a term while it still hears its leader: caught within 30 seeds', async () => {
    const found = await firstFailing('vote-while-led', 30);
    expect(found?.failure).toMatch(
      /invalid under single failures|declared dead though no fault|both lead with a lease|no leader with a lease|without a leader with a lease|both act as primary|epoch would go back/,
    );
  }, 60_000);

  it('a leader cut off from the majority that keeps granting leases: caught within 3 seeds', async () => {
    const found = await firstFailing('minority-lease', 3);
    expect(found?.failure).toMatch(/both act as primary|both lead with a lease|not linearizable/);
  }, 60_000);

  it('copies sent in one burst keep places too busy to answer heartbeats: caught within 3 seeds', async () => {
    // Work costs simulated time here: 2,000 keys at 1.5 ms each stand for millions of real ones.
    const heavy = { workMsPerUnit: 1.5, prefillKeys: 2000, seconds: 20 };
    const found = await firstFailing('copy-burst', 3, 'normal', heavy);
    // Either a live place is declared dead for being busy, or the target is so busy that each copy
    // hears nothing back for a failure timeout and starts again, and the store never repairs.
    expect(found?.failure).toMatch(
      /live place \d+ .* was declared dead though no fault touched it|did not repair within 60 s/,
    );
    // The same load with copies paced: no live place is declared dead.
    expect(await firstFailing(undefined, 3, 'normal', heavy)).toBeNull();
  }, 300_000);

  it('a backup that takes entries of an older epoch: caught by catastrophe seed 623, and that seed passes without it', async () => {
    // Only a long stall past a failover and a handover delivers such entries; this seed has one.
    const caught = await simulateSeed(623, { mode: 'catastrophe', defect: 'stale-epoch' });
    expect(caught.failure).toMatch(/took entry s\d+ of partition \d+ from epoch \d+, older than its own/);
    expect((await simulateSeed(623, { mode: 'catastrophe' })).ok).toBe(true);
  }, 60_000);

  it('a copy that skips the updates arriving while it runs: caught within 20 seeds', async () => {
    const found = await firstFailing('copy-skips-updates', 20);
    expect(found?.failure).toMatch(/backup \d+ of partition \d+ (holds|differs)|not linearizable|lost/);
  }, 120_000);
});
