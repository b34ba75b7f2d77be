import { describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';
import { runJsonScript } from '../support/scripts.js';

describe('junk and forged messages from strangers (scripts/fuzz-places.mjs)', () => {
  it('100,000 frames at each of three places: all stay up, the store valid, the data intact, memory flat', async () => {
    const port = await freePorts(3);
    const result = (await runJsonScript(
      [
        'scripts/fuzz-places.mjs',
        '--frames',
        '100000',
        '--places',
        '3',
        '--seed',
        '11',
        '--port',
        String(port),
      ],
      { timeoutMs: 300_000 },
    )) as { frames: number; rssGrowthMiBFrom20Percent: number[] };
    expect(result.frames).toBeGreaterThanOrEqual(300_000);
    expect(result).toMatchObject({
      alive: true,
      valid: true,
      everyPlaceActive: true,
      sameTerm: true,
      intact: true,
      writable: true,
      ok: true,
    });
    for (const growth of result.rssGrowthMiBFrom20Percent) expect(growth).toBeLessThan(64);
  }, 320_000);
});
