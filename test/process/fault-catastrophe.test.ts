import { LocalCluster } from 'placestore';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: LocalCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('catastrophic failures on real processes', () => {
  it('two SIGKILLs at once turn the store invalid within seconds; the CLI exits 3 and names the cause', async () => {
    cluster = await LocalCluster.start({ places: 3, spares: 1, port: await freePorts(4) });
    const seeds = cluster.seeds.join(',');
    expect((await runCli(['put', 'k', 'v', '--seeds', seeds])).code).toBe(0);
    const s = await cluster.status();
    const killedAt = Date.now();
    for (const id of [1, 2]) process.kill(s.places.find((p) => p.id === id)!.pid, 'SIGKILL');
    let res = { code: null as number | null, stdout: '', stderr: '' };
    await waitUntil(
      async () => {
        res = await runCli(['get', 'k', '--seeds', seeds, '--timeout-ms', '3000']);
        return res.code === 3;
      },
      15_000,
      200,
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(res.stderr).toMatch(/invalid: both copies of \d+ partitions .* lost/);
    const status = await runCli(['status', '--json', '--seeds', seeds]);
    expect(status.code).toBe(3);
    const json = JSON.parse(status.stdout);
    expect(json.valid).toBe(false);
    expect(json.invalidReason).toMatch(/lost/);
    expect(json.partitions.some((p: { state: string }) => p.state === 'lost')).toBe(true);
    // Fails fast: no waiting for a timeout.
    const started = Date.now();
    expect((await runCli(['put', 'k', 'w', '--seeds', seeds, '--timeout-ms', '5000'])).code).toBe(3);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
