import { Worker } from 'node:worker_threads';
import type { Defect } from '../protocol/defects.js';
import { type SimResult, simulateSeed } from '../sim/Simulator.js';

/** What every seed of a campaign runs with. */
export interface SeedOptions {
  places: number;
  seconds: number;
  maxSteps: number;
  mode: 'normal' | 'catastrophe';
  defect?: Defect;
}

/** Runs one seed; a crash of the simulator is a failed seed, not a failed campaign. */
export async function runSeed(
  seed: number,
  options: SeedOptions,
  trace?: (line: string) => void,
): Promise<SimResult> {
  try {
    return await simulateSeed(seed, { ...options, trace });
  } catch (err) {
    return {
      seed,
      ok: false,
      failure: `crashed: ${(err as Error).stack}`,
      faults: 0,
      ops: 0,
      simulatedMs: 0,
      steps: 0,
      invalid: false,
      unservedMs: [],
    };
  }
}

/**
 * Runs seeds on `jobs` worker threads, each taking the next seed as it finishes one; onResult sees
 * every result as it comes (out of seed order).
 */
export async function runSeedsInParallel(
  seeds: readonly number[],
  options: SeedOptions,
  jobs: number,
  onResult: (r: SimResult) => void,
): Promise<void> {
  let next = 0;
  const workers = Array.from(
    { length: Math.min(jobs, seeds.length) },
    () => new Worker(new URL('./simWorker.js', import.meta.url), { workerData: options }),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const give = () => {
              if (next >= seeds.length) resolve();
              else w.postMessage(seeds[next++]);
            };
            w.on('message', (r: SimResult) => {
              onResult(r);
              give();
            });
            w.on('error', reject);
            w.on('exit', (code) => reject(new Error(`a simulation worker exited with code ${code}`)));
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
