import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NetnsHosts } from '../../src/cluster/NetnsHosts.js';
import { runCli } from '../support/cli.js';

const why = NetnsHosts.unavailable();
const dir = mkdtempSync(join(tmpdir(), 'placestore-partition-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list']).toString().split('\n').filter(Boolean);
}

describe.skipIf(why !== null)(
  `placestore check with network partitions between namespaced hosts${why === null ? '' : ` (skipped: ${why})`}`,
  () => {
    it('cuts links in every shape next to kills, with TLS on: linearizable, nothing lost, the majority side back within seconds, no host left behind', async () => {
      const history = join(dir, 'history.jsonl');
      const res = await runCli(
        [
          'check',
          '--duration',
          '50',
          '--places',
          '5',
          '--spares',
          '1',
          '--nemesis',
          'partition-isolate,partition-split,partition-link,partition-oneway,kill',
          '--interval',
          '2',
          '--seed',
          '5',
          '--history',
          history,
          // Between hosts, TLS is how places run: the check goes through it.
          '--tls',
          '--json',
        ],
        { timeoutMs: 240_000 },
      );
      expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr.slice(-2000) }).toEqual({
        code: 0,
        stderr: '',
      });
      const last = JSON.parse(res.stdout.trim().split('\n').pop()!);
      expect(last).toMatchObject({ linearizable: true, lostWrites: 0 });
      expect(last.faults).toBeGreaterThanOrEqual(4);
      // One probe measure per partition fault; the target is a failure timeout + a lease + 200 ms (1.7 s);
      // a shared CI machine gets some slack.
      expect(last.majorityUnavailableMs.length).toBeGreaterThanOrEqual(3);
      for (const ms of last.majorityUnavailableMs) expect(ms).toBeLessThan(4000);
      // Every namespace it made is gone again.
      const made = /hosts in network namespaces (\w+)h0\.\./.exec(res.stderr)?.[1];
      expect(made).toBeDefined();
      expect(namespaces().filter((n) => n.startsWith(`${made}h`))).toEqual([]);
      expect(res.stderr).toMatch(/check: TLS 1\.3 with certificates in /);
    }, 300_000);
  },
);
