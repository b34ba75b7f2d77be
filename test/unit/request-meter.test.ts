import { describe, expect, it } from 'vitest';
import { PlaceMetrics } from '../../src/http/PlaceMetrics.js';
import { PlaceView } from '../../src/http/PlaceView.js';
import type { PlaceNode } from '../../src/runtime/PlaceNode.js';
import { RequestMeter } from '../../src/runtime/RequestMeter.js';
import type { Link } from '../../src/transport/Transport.js';

const link = (name: string) => ({ remote: name }) as unknown as Link;

describe('the request meter', () => {
  it('times each operation from its request to its answer on the same connection, with its result', () => {
    let now = 1000.25;
    const seen: [string, string, number][] = [];
    const meter = new RequestMeter({ observe: (op, result, s) => seen.push([op, result, s]) }, () => now);
    const a = link('a');
    const b = link('b');
    meter.begin(a, 1, 'put');
    meter.begin(a, 2, 'get');
    meter.begin(b, 1, 'cas');
    now += 2.5;
    meter.end(a, { t: 'res', id: 1 });
    // Another connection's request 2 is not a's.
    meter.end(b, { t: 'res', id: 2 });
    now += 1;
    meter.end(b, { t: 'err', id: 1, code: 'redirect' });
    meter.end(a, { t: 'statusReply', id: 2 });
    meter.end(a, { t: 'err', id: 2, code: 'busy' });
    // Answered once: a second answer to the same id is not counted again.
    meter.end(a, { t: 'res', id: 1 });
    expect(seen.map(([op, r, s]) => [op, r, Math.round(s * 1e6)])).toEqual([
      ['put', 'ok', 2500],
      ['cas', 'redirect', 3500],
      ['get', 'busy', 3500],
    ]);
  });
});

describe('the request meter, bounded', () => {
  it('forgets the oldest operation of a connection past 65,536 unanswered ones', () => {
    const seen: number[] = [];
    const meter = new RequestMeter({ observe: (_op, _r, s) => seen.push(s) }, () => 0);
    const a = link('a');
    for (let id = 1; id <= 65_537; id++) meter.begin(a, id, 'get');
    meter.end(a, { t: 'res', id: 1 });
    expect(seen).toEqual([]);
    meter.end(a, { t: 'res', id: 2 });
    meter.end(a, { t: 'res', id: 65_537 });
    expect(seen).toHaveLength(2);
  });
});

describe('the metrics of a place', () => {
  const view = {
    roles: () => ({ primaries: 3, backups: 2, targets: 0 }),
    keys: () => ({ primary: 10, backup: 7 }),
    isLeader: () => true,
    hasLease: () => true,
    invalid: () => null,
    tableVersion: () => 9,
    tableTerm: () => 2,
    copies: () => [],
    replicationLag: () => 4,
    connections: () => ({ clients: 5, places: 2 }),
  } as unknown as PlaceView;

  it('exposes counts by kind and result, and a cumulative latency histogram per kind', async () => {
    const m = new PlaceMetrics(view, () => 0);
    m.observe('put', 'ok', 0.0003);
    m.observe('put', 'ok', 0.002);
    m.observe('put', 'busy', 3);
    m.observe('get', 'ok', 0.00005);
    const text = await m.text();
    m.clear();
    expect(text).toContain('placestore_ops_total{op="put",result="ok"} 2');
    expect(text).toContain('placestore_ops_total{op="put",result="busy"} 1');
    expect(text).toContain('placestore_ops_total{op="get",result="ok"} 1');
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="0.00025",op="put"} 0');
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="0.0005",op="put"} 1');
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="0.0025",op="put"} 2');
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="2.5",op="put"} 2');
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="+Inf",op="put"} 3');
    expect(text).toContain('placestore_op_duration_seconds_count{op="put"} 3');
    expect(text).toMatch(/placestore_op_duration_seconds_sum\{op="put"\} 3\.0023/);
    expect(text).toContain('placestore_op_duration_seconds_bucket{le="0.0001",op="get"} 1');
    expect(text).not.toContain('op="del"');
    expect(text).toContain('placestore_keys{role="backup"} 7');
    expect(text).toContain('placestore_connections{peer="client"} 5');
    expect(text).toContain('placestore_replication_lag_entries 4');
    expect(m.opsAnswered).toBe(4);
  });

  it('a second scrape counts from the start again, not twice', async () => {
    const m = new PlaceMetrics(view, () => 0);
    m.observe('del', 'ok', 0.001);
    await m.text();
    m.observe('del', 'ok', 0.001);
    const text = await m.text();
    m.clear();
    expect(text).toContain('placestore_ops_total{op="del",result="ok"} 2');
    expect(text).toContain('placestore_op_duration_seconds_count{op="del"} 2');
  });
});

describe('readiness, from the table a place holds', () => {
  const member = (id: number) => ({ id, address: `p${id}:1`, zone: null, pid: id, state: 'active' as const });
  const table = (partitions: { primary: number; backup: number | null; target: number | null }[]) => ({
    version: 5,
    term: 1,
    formed: true,
    minPlaces: 3,
    voters: 3,
    valid: true,
    invalidReason: null,
    members: [member(0), member(1), member(2)],
    partitions: partitions.map((p) => ({ ...p, epoch: 2, state: p.target === null ? 'ok' : 'migrating' })),
  });
  const view = (t: unknown, hasLease = true) =>
    new PlaceView(
      { place: { id: 0, tableData: t, invalid: null, hasLease } } as unknown as PlaceNode,
      () => ({ clients: 0, places: 0 }),
    );

  it('a handover keeps it ready (its backup is in sync); a copy to a new place does not', () => {
    expect(view(table([{ primary: 0, backup: 1, target: 1 }])).notReady()).toEqual([]);
    expect(view(table([{ primary: 0, backup: null, target: 2 }])).notReady()[0]).toMatch(
      /^1 partitions held here lack an in-sync backup: 0$/,
    );
    // Partitions it does not hold do not count.
    expect(view(table([{ primary: 1, backup: null, target: 2 }])).notReady()).toEqual([]);
  });

  it('a place without a lease is not ready, whatever its table says', () => {
    expect(view(table([{ primary: 0, backup: 1, target: null }]), false).notReady()[0]).toMatch(
      /holds no lease/,
    );
  });
});
