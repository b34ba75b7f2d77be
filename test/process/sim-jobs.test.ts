import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Runs the simulator's command line (built) and returns its JSON summary without the wall time. */
async function campaign(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['dist/cli/simCommand.js', '--json', ...args], {
    timeout: 120_000,
  }).catch((err: { stdout: string }) => err);
  const { wallSeconds, ...summary } = JSON.parse(stdout.trim().split('\n').pop()!);
  expect(wallSeconds).toBeGreaterThan(0);
  return summary;
}

describe('a simulation campaign on worker threads (sim --jobs)', () => {
  it('judges every seed as one thread does, failures included', async () => {
    const args = ['--seeds', '4', '--start', '1', '--seconds', '8', '--defect', 'minority-lease'];
    const one = await campaign(args);
    const two = await campaign([...args, '--jobs', '2']);
    expect(two).toEqual(one);
    expect(one.seeds).toBe(4);
    expect((one.failed as number[]).length).toBeGreaterThan(0);
  }, 180_000);
});
