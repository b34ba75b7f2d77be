import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, LocalCluster, type StoreClient } from 'placestore';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? null;
const why = CHROMIUM === null ? 'no chromium at /usr/bin/chromium (Debian package chromium)' : null;
const PARTITIONS = 48;
/** Where the screenshot goes (CI keeps it as an artifact). */
const OUTPUT_DIR = join(process.cwd(), 'test-output');

let cluster: LocalCluster | undefined;
let browser: Browser | undefined;
let client: StoreClient | undefined;

afterAll(async () => {
  await client?.close();
  await browser?.close();
  await cluster?.stop();
});

/** Puts `count` keys, one after another (a bounded load). */
async function load(c: StoreClient, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await c.put(`${prefix}-${i}`, `value-${i}`);
}

describe.skipIf(why !== null)(
  `the dashboard in a real browser${why === null ? '' : ` (skipped: ${why})`}`,
  () => {
    let httpPort = 0;
    beforeAll(async () => {
      const port = await freePorts(8);
      httpPort = port + 4;
      cluster = await LocalCluster.start({
        places: 3,
        spares: 1,
        port,
        httpPort,
        placeArgs: ['--partitions', String(PARTITIONS)],
      });
      client = await connect({ seeds: cluster.seeds });
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
    }, 90_000);

    it('shows every place and partition, counts load, and follows a killed leader through the repair', async () => {
      const page = await browser!.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Served by place 0, the leader: the page must find its way once that place is gone.
      await page.goto(`http://127.0.0.1:${httpPort}/`);
      await page.waitForFunction((n) => document.querySelectorAll('#members tr[data-place]').length === n, 4);
      await page.waitForFunction(
        (n) => document.querySelectorAll('#grid .cell[data-state="ok"]').length === n,
        PARTITIONS,
      );
      expect(await page.locator('#summary').textContent()).toMatch(/valid · term 1 .* leader 0/);

      // Load: the answered-operations count rises with it.
      await load(client!, 'before', 200);
      await page.waitForFunction(() => Number(document.querySelector('#ops-total')?.textContent) >= 200);
      const before = Number(await page.locator('#ops-total').textContent());
      await load(client!, 'more', 100);
      await page.waitForFunction(
        (n) => Number(document.querySelector('#ops-total')?.textContent) >= n,
        before + 100,
      );

      // Kill the leader, whose HTTP served the page.
      const leader = cluster!.places[0]!;
      leader.child.kill('SIGKILL');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#events li[data-event="place_dead"]')].some((li) =>
            li.textContent?.includes('place 0 '),
          ),
        undefined,
        { timeout: 20_000 },
      );
      await page.waitForSelector('#events li[data-event="takeover"]', { timeout: 20_000 });
      await page.waitForSelector('#events li[data-event="promoted"]');
      // The repair: the spare takes over copies, every partition ok again, none led by place 0.
      await page.waitForSelector('#events li[data-event="copy_finished"]', { timeout: 30_000 });
      await page.waitForFunction(
        (n) =>
          document.querySelectorAll('#grid .cell[data-state="ok"]').length === n &&
          document.querySelectorAll('#grid .cell[data-primary="0"]').length === 0,
        PARTITIONS,
        { timeout: 30_000 },
      );
      await page.waitForFunction(
        () =>
          document.querySelector('#members tr[data-place="0"] [data-field="state"]')?.textContent === 'dead',
      );
      expect(await page.locator('#summary').textContent()).toMatch(/valid · term 2 .* leader 1/);
      expect(await page.locator('#source').textContent()).toContain(`:${httpPort + 1}`);

      mkdirSync(OUTPUT_DIR, { recursive: true });
      const shot = join(OUTPUT_DIR, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(errors).toEqual([]);
    }, 120_000);
  },
);
