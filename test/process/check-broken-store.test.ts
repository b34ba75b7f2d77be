import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/check/runCheck.js';
import { freePorts } from '../support/ports.js';

const BROKEN = fileURLToPath(new URL('../fixtures/unreplicated-place.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'placestore-broken-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('check catches a broken store', () => {
  it('judges the history not linearizable when primaries acknowledge writes without replicating them', async () => {
    const run = await runCheck({
      durationS: 16,
      places: 3,
      spares: 1,
      clients: 4,
      keys: 3,
      nemesis: ['kill-leader', 'kill-deputy'],
      intervalS: 1,
      seed: 3,
      historyFile: join(dir, 'history.jsonl'),
      port: await freePorts(4),
      opTimeoutMs: 5000,
      checkTimeLimitMs: 30_000,
      rate: 200,
      cliPath: BROKEN,
    });
    expect(run.faultErrors).toEqual([]);
    expect(run.summary.faults).toBeGreaterThanOrEqual(2);
    expect(run.summary.linearizable).toBe(false);
    // The checker shows where: an operation no order fits, with the operations around it.
    const violation = run.check.keys.find((k) => k.violation !== undefined)!.violation!;
    expect(violation.window).toContain(violation.blocked);
  }, 120_000);
});
