// Takes the dashboard screenshot in docs/: a local 3-place + 1-spare cluster with HTTP, KEYS keys
// written under a light steady load, then place 2 killed; the shot is taken while the spare is
// being filled (copies in progress) and again once repaired.
// Needs Debian's chromium. Usage: npm run build && node scripts/dashboard-screenshot.mjs [keys=200000] [out=docs/dashboard.png]
import { chromium } from 'playwright-core';
import { connect, LocalCluster } from '../dist/index.js';

const keys = Number(process.argv[2] ?? 200_000);
const out = process.argv[3] ?? 'docs/dashboard.png';
const port = Number(process.env.PORT ?? 7900);
const httpPort = port + 10;

const cluster = await LocalCluster.start({
  places: 3,
  spares: 1,
  port,
  httpPort,
  placeArgs: ['--partitions', '96'],
});
const client = await connect({ seeds: cluster.seeds, timeoutMs: 10_000 });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
let loading = true;
try {
  let next = 0;
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (next < keys) await client.put(`key-${next++}`, 'x'.repeat(100));
    }),
  );
  process.stderr.write(`wrote ${keys} keys\n`);
  // A light load for the charts, bounded in time: 8 writers for at most 60 s.
  const until = Date.now() + 60_000;
  const load = Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; loading && Date.now() < until; i++) {
        try {
          await client.put(`load-${w}-${i % 1000}`, i);
        } catch {
          // failover: go on
        }
      }
    }),
  );
  const page = await browser.newPage({ viewport: { width: 1400, height: 1150 } });
  await page.goto(`http://127.0.0.1:${httpPort + 1}/`);
  await page.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 8);
  cluster.places[2].child.kill('SIGKILL');
  await page.waitForSelector('#copies .copy progress', { timeout: 20_000 });
  await page.screenshot({ path: out, fullPage: true });
  process.stderr.write(`saved ${out}\n`);
  loading = false;
  await load;
} finally {
  loading = false;
  await browser.close();
  await client.close();
  await cluster.stop();
}
