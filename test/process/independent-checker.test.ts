import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type HistoryEvent, pairOperations } from '../../src/check/history.js';
import { checkHistory } from '../../src/check/linearizability.js';
import { randomHistory } from '../support/histories.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/independent_check.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'placestore-independent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function independent(events: HistoryEvent[], name: string): unknown {
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = spawnSync('python3', [SCRIPT, file], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!).linearizable;
}

describe('the independent checker (scripts/independent_check.py) agrees with ours', () => {
  it('on random linearizable histories and on the same with one read corrupted', () => {
    for (let seed = 100; seed < 115; seed++) {
      const events = randomHistory(seed, 4, 200, ['a', 'b', 'c']);
      expect({
        seed,
        ours: checkHistory(pairOperations(events), null).verdict,
        theirs: independent(events, `ok-${seed}`),
      }).toEqual({
        seed,
        ours: true,
        theirs: true,
      });
      const at = events.findIndex((e, i) => i > events.length / 2 && e.f === 'read' && e.type === 'ok');
      const bad = events.map((e, i) => (i === at ? { ...e, value: 'never-written' } : e));
      expect({
        seed,
        ours: checkHistory(pairOperations(bad), null).verdict,
        theirs: independent(bad, `bad-${seed}`),
      }).toEqual({
        seed,
        ours: false,
        theirs: false,
      });
    }
  });
});
