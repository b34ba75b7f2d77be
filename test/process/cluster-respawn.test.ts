import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

let cluster: ChildProcess | undefined;

afterEach(async () => {
  if (cluster) await stopChild(cluster);
  cluster = undefined;
});

describe('placestore cluster --respawn', () => {
  it('restarts a killed place as a new spare, and the cluster heals itself again and again', async () => {
    const port = await freePorts(4);
    const started = await startCli(['cluster', '--port', String(port), '--respawn'], /^placestore ready/);
    cluster = started.child;
    const seeds = ['--seeds', `127.0.0.1:${port},127.0.0.1:${port + 1}`];
    expect((await runCli(['put', 'survivor', 'yes', ...seeds])).code).toBe(0);
    for (const id of [2, 3]) {
      const s = JSON.parse((await runCli(['status', '--json', ...seeds])).stdout);
      const victim = s.places.find((p: { id: number; state: string }) => p.id === id && p.state !== 'dead');
      process.kill(victim.pid, 'SIGKILL');
      await waitUntil(
        async () => {
          const now = JSON.parse((await runCli(['status', '--json', ...seeds])).stdout);
          const back = now.places.filter(
            (p: { address: string; state: string }) => p.address === victim.address && p.state !== 'dead',
          );
          return (
            back.length === 1 &&
            back[0].pid !== victim.pid &&
            now.partitions.every((p: { state: string }) => p.state === 'ok')
          );
        },
        30_000,
        200,
      );
    }
    expect((await runCli(['get', 'survivor', ...seeds])).stdout).toBe('yes\n');
    expect(started.output()).toMatch(/respawned 127\.0\.0\.1:\d+ as a spare/);
  });
});
