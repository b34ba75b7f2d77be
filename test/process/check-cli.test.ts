import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readHistory } from '../../src/check/history.js';
import { runCli } from '../support/cli.js';
import { freePorts } from '../support/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'placestore-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('placestore check (short, in CI)', () => {
  it('runs kill and pause faults against a real cluster and judges the history linearizable with nothing lost', async () => {
    const history = join(dir, 'history.jsonl');
    const port = await freePorts(4);
    const res = await runCli(
      [
        'check',
        '--duration',
        '40',
        '--nemesis',
        'kill,pause',
        '--interval',
        '2',
        '--seed',
        '11',
        '--history',
        history,
        '--port',
        String(port),
        '--json',
      ],
      { timeoutMs: 150_000 },
    );
    const last = JSON.parse(res.stdout.trim().split('\n').pop()!);
    expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr.slice(-2000) }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(last).toMatchObject({ linearizable: true, lostWrites: 0, history });
    for (const k of ['ops', 'ok', 'fail', 'info', 'faults', 'maxUnavailableMs'])
      expect(typeof last[k]).toBe('number');
    expect(last.faults).toBeGreaterThanOrEqual(3);
    expect(last.ok).toBeGreaterThan(1000);
    // The history is in the contract's format and holds what the summary counts.
    const h = readHistory(history);
    expect(h.operations.length).toBe(last.ops);
    expect(h.final).not.toBeNull();
    expect(Object.keys(h.final!).length).toBe(5);
    expect(new Set(h.events.map((e) => e.f))).toEqual(new Set(['read', 'write', 'cas', 'delete']));
    const times = h.events.map((e) => e.time);
    expect(times.every((t, i) => i === 0 || t >= times[i - 1])).toBe(true);
    // The report sits next to the history and needs nothing from the network.
    const report = join(dir, 'report.html');
    expect(existsSync(report)).toBe(true);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/(src|href)="https?:/);
  }, 180_000);

  it('rejects an unknown fault with exit 2', async () => {
    const res = await runCli(['check', '--nemesis', 'kill,meteor']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown fault 'meteor'/);
  });
});
