import { describe, expect, it } from 'vitest';
import { runJsonScript } from '../support/scripts.js';

/** Runs the simulator's command line (built) and returns its JSON summary without the wall time. */
async function campaign(args: string[]): Promise<Record<string, unknown>> {
  const { wallSeconds, ...summary } = await runJsonScript(['dist/cli/simCommand.js', '--json', ...args], {
    timeoutMs: 120_000,
  });
  expect(wallSeconds).toBeGreaterThan(0);
  return summary;
}

describe('a simulation campaign on worker threads (sim --jobs)', () => {
  it('judges every seed as one thread does, failures included', async () => {
    const args = ['--seeds', '4', '--start', '1', '--seconds', '8', '--defect', 'lease-ignored'];
    const one = await campaign(args);
    const two = await campaign([...args, '--jobs', '2']);
    expect(two).toEqual(one);
    expect(one.seeds).toBe(4);
    expect((one.failed as number[]).length).toBeGreaterThan(0);
  }, 180_000);
});
