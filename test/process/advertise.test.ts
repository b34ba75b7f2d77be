import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli, stopChild, waitUntil } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) await stopChild(c);
});

function place(args: string[]): ChildProcess {
  const c = spawn(process.execPath, [CLI, 'place', '--partitions', '8', ...args], { stdio: 'ignore' });
  children.push(c);
  return c;
}

describe('place --advertise', () => {
  it('places bound to a wildcard address are listed, dialled and served at the addresses they advertise', async () => {
    const p = await freePorts(2);
    const [a, b] = [`127.0.0.1:${p}`, `127.0.0.1:${p + 1}`];
    place(['--listen', `0.0.0.0:${p}`, '--advertise', a, '--min-places', '2']);
    place(['--listen', `0.0.0.0:${p + 1}`, '--advertise', b, '--join', a]);
    const seeds = ['--seeds', a];
    await waitUntil(
      async () => {
        const r = await runCli(['status', '--json', ...seeds, '--timeout-ms', '1000']);
        return r.code === 0 && JSON.parse(r.stdout).formed === true;
      },
      20_000,
      100,
    );
    const s = JSON.parse((await runCli(['status', '--json', ...seeds])).stdout);
    expect(s.places.map((x: { address: string }) => x.address)).toEqual([a, b]);
    expect((await runCli(['put', 'k', 'v', ...seeds])).code).toBe(0);
    expect((await runCli(['get', 'k', '--seeds', b])).stdout).toBe('v\n');
  });
});
