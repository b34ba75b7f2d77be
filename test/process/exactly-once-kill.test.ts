import { describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';
import { runJsonScript } from '../support/scripts.js';

describe('exactly once with real processes (scripts/exactly-once-hot-counter.mjs)', () => {
  it('300 clients on one counter while its primary is SIGKILLed: nothing runs twice', async () => {
    const port = await freePorts(4);
    const r = (await runJsonScript(['scripts/exactly-once-hot-counter.mjs', '300', '3', '8192'], {
      timeoutMs: 180_000,
      env: { ...process.env, PORT: String(port) },
    })) as Record<string, number>;
    expect(r.acked).toBeGreaterThan(r.ackedBeforeKill);
    expect(r.ranTwice).toBe(0);
    expect(r.final).toBeGreaterThanOrEqual(r.acked);
    expect(r.final).toBeLessThanOrEqual(r.acked + r.unknown);
    expect(r.otherErrors).toEqual({});
  }, 200_000);
});
