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
  it('two SIGKILLs at once among five voters turn the store invalid within seconds; the CLI exits 3 and names the cause', async () => {
    // A silent place holding a last copy is declared dead after --lost-after-ms (2 s here).
    cluster = await LocalCluster.start({
      places: 5,
      spares: 1,
      port: await freePorts(6),
      placeArgs: ['--voters', '5', '--lost-after-ms', '2000'],
    });
    const seeds = cluster.seeds.join(',');
    expect((await runCli(['put', 'k', 'v', '--seeds', seeds])).code).toBe(0);
    const s = await cluster.status();
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
    expect(res.stderr).toMatch(/invalid: both copies of \d+ partitions .* lost/);
    const status = await runCli(['status', '--json', '--seeds', seeds]);
    expect(status.code).toBe(3);
    const json = JSON.parse(status.stdout);
    expect(json.valid).toBe(false);
    expect(json.invalidReason).toMatch(/lost/);
    expect(json.partitions.some((p: { state: string }) => p.state === 'lost')).toBe(true);
    // Fails fast: a place answers "invalid" (exit 3); a client left to time out would exit 4.
    const put = await runCli(['put', 'k', 'w', '--seeds', seeds, '--timeout-ms', '60000']);
    expect(put.code).toBe(3);
    expect(put.stderr).toMatch(/invalid/);
  });

  it('two SIGKILLs at once among three voters leave no majority: the CLI exits 4 with "no quorum", never 3', async () => {
    cluster = await LocalCluster.start({ places: 3, spares: 1, port: await freePorts(4) });
    const seeds = cluster.seeds.join(',');
    expect((await runCli(['put', 'k', 'v', '--seeds', seeds])).code).toBe(0);
    const s = await cluster.status();
    for (const id of [1, 2]) process.kill(s.places.find((p) => p.id === id)!.pid, 'SIGKILL');
    let res = { code: null as number | null, stdout: '', stderr: '' };
    await waitUntil(
      async () => {
        res = await runCli(['get', 'k', '--seeds', seeds, '--timeout-ms', '2000']);
        return res.code === 4 && /no quorum/.test(res.stderr);
      },
      15_000,
      200,
    );
    expect(res.code).toBe(4);
    // It stays so: nobody may declare anything without a majority.
    const again = await runCli(['put', 'k', 'w', '--seeds', seeds, '--timeout-ms', '2000']);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/no quorum/);
  });
});
