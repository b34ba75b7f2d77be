import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';

const run = promisify(execFile);

describe('exactly once with real processes (scripts/exactly-once-hot-counter.mjs)', () => {
  it('300 clients on one counter while its primary is SIGKILLed: nothing runs twice', async () => {
    const port = await freePorts(4);
    const { stdout } = await run(
      process.execPath,
      ['scripts/exactly-once-hot-counter.mjs', '300', '3', '8192'],
      {
        timeout: 180_000,
        env: { ...process.env, PORT: String(port) },
      },
    ).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`run failed: ${err.stdout} ${err.stderr.slice(-2000)}`);
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(r.acked).toBeGreaterThan(r.ackedBeforeKill);
    expect(r.ranTwice).toBe(0);
    expect(r.final).toBeGreaterThanOrEqual(r.acked);
    expect(r.final).toBeLessThanOrEqual(r.acked + r.unknown);
    expect(r.otherErrors).toEqual({});
  }, 200_000);
});
