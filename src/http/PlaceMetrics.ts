import hdr from 'hdr-histogram-js';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PlaceEvent } from '../protocol/events.js';
import type { OpObserver } from '../runtime/RequestMeter.js';
import type { PlaceView } from './PlaceView.js';

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const OP_KINDS = ['get', 'put', 'del', 'cas', 'submit'] as const;
const OP_INDEX = new Map<string, number>(OP_KINDS.map((op, i) => [op, i]));
/** Upper bounds of the latency buckets, seconds. */
const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const DURATION_NAME = 'placestore_op_duration_seconds';
const DURATION_HELP = 'Time from a client operation reaching this place to its answer leaving it.';

/** Operations per second and latency over the last window, for the dashboard. */
export interface RecentOps {
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/**
 * A place's Prometheus metrics (prom-client, one registry per place so that several places can live
 * in one process): client operations as they are answered, events as they are reported, and gauges
 * read from the place when scraped. Names follow the Prometheus naming guide.
 */
export class PlaceMetrics implements OpObserver {
  readonly registry = new Registry();
  private readonly events: Counter<'event'>;
  /**
   * Operations are counted here, in plain numbers (prom-client's labelled children cost about 1 µs
   * per call), and handed to prom-client when scraped: per kind, answers by result, and latency
   * buckets (the last one +Inf), their sum and count.
   */
  private readonly results = OP_KINDS.map(() => new Map<string, number>());
  private readonly bucketCounts = OP_KINDS.map(() => new Float64Array(DURATION_BUCKETS.length + 1));
  private readonly durationSums = new Float64Array(OP_KINDS.length);
  private window = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 2,
  });
  private windowStartMs: number;
  private recentOps: RecentOps = { opsPerSec: 0, p50Ms: null, p99Ms: null };
  private answered = 0;

  /** Client operations this place answered since it started. */
  get opsAnswered(): number {
    return this.answered;
  }

  constructor(
    view: PlaceView,
    private readonly nowMs: () => number,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which `promtool check metrics` rejects (prom-client's defaults).
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    this.windowStartMs = nowMs();
    const results = this.results;
    new Counter({
      name: 'placestore_ops_total',
      help: 'Client operations answered by this place, by kind and result (ok or an error code).',
      labelNames: ['op', 'result'],
      registers,
      collect() {
        this.reset();
        OP_KINDS.forEach((op, i) => {
          for (const [result, n] of results[i]!) this.inc({ op, result }, n);
        });
      },
    });
    // A histogram filled from the buckets counted above (prom-client's own cannot be set).
    this.registry.registerMetric({
      name: DURATION_NAME,
      help: DURATION_HELP,
      type: 'histogram',
      get: async () => ({
        name: DURATION_NAME,
        help: DURATION_HELP,
        type: 'histogram',
        aggregator: 'sum',
        values: this.durationValues(),
      }),
      reset: () => {},
    } as unknown as Parameters<Registry['registerMetric']>[0]);
    this.events = new Counter({
      name: 'placestore_events_total',
      help: 'Decisions this place reported (docs/observability.md), by kind.',
      labelNames: ['event'],
      registers,
    });
    new Gauge({
      name: 'placestore_partitions',
      help: 'Partitions this place holds, by role (primary, backup, copy target).',
      labelNames: ['role'],
      registers,
      collect() {
        const r = view.roles();
        this.set({ role: 'primary' }, r.primaries);
        this.set({ role: 'backup' }, r.backups);
        this.set({ role: 'target' }, r.targets);
      },
    });
    new Gauge({
      name: 'placestore_keys',
      help: 'Keys stored at this place, by the role it holds their partition in.',
      labelNames: ['role'],
      registers,
      collect() {
        const k = view.keys();
        this.set({ role: 'primary' }, k.primary);
        this.set({ role: 'backup' }, k.backup);
      },
    });
    new Gauge({
      name: 'placestore_is_leader',
      help: '1 when this place leads the cluster, else 0.',
      registers,
      collect() {
        this.set(view.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'placestore_lease_held',
      help: '1 while this place holds a lease (may answer as a primary), else 0.',
      registers,
      collect() {
        this.set(view.hasLease() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'placestore_valid',
      help: '1 while the store is valid as this place knows it, 0 once declared invalid.',
      registers,
      collect() {
        this.set(view.invalid() === null ? 1 : 0);
      },
    });
    new Gauge({
      name: 'placestore_table_version',
      help: 'Version of the partition table this place holds.',
      registers,
      collect() {
        this.set(view.tableVersion());
      },
    });
    new Gauge({
      name: 'placestore_table_term',
      help: 'Leadership term of the partition table this place holds.',
      registers,
      collect() {
        this.set(view.tableTerm());
      },
    });
    new Gauge({
      name: 'placestore_migrations_in_progress',
      help: 'Whole-partition copies and handovers this place runs as a primary (queued ones included).',
      registers,
      collect() {
        this.set(view.copies().length);
      },
    });
    new Gauge({
      name: 'placestore_replication_lag_entries',
      help: 'Writes this place answered for as a primary that its backups have not acknowledged yet.',
      registers,
      collect() {
        this.set(view.replicationLag());
      },
    });
    new Gauge({
      name: 'placestore_connections',
      help: 'Open connections to this place, by who is at the other end (client or place).',
      labelNames: ['peer'],
      registers,
      collect() {
        const c = view.connections();
        this.set({ peer: 'client' }, c.clients);
        this.set({ peer: 'place' }, c.places);
      },
    });
  }

  /** One client operation answered (RequestMeter). */
  observe(op: string, result: string, seconds: number): void {
    const i = OP_INDEX.get(op);
    if (i === undefined) return;
    const byResult = this.results[i]!;
    byResult.set(result, (byResult.get(result) ?? 0) + 1);
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]!) b++;
    this.bucketCounts[i]![b]!++;
    this.durationSums[i]! += seconds;
    this.answered++;
    this.window.recordValue(Math.max(1, Math.round(seconds * 1e6)));
  }

  /** The latency histogram as prom-client's exposition wants it: cumulative buckets, sum and count per kind. */
  private durationValues(): { metricName: string; labels: Record<string, string | number>; value: number }[] {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    OP_KINDS.forEach((op, i) => {
      const counts = this.bucketCounts[i]!;
      let total = 0;
      for (const n of counts) total += n;
      if (total === 0) return;
      let cumulative = 0;
      for (let b = 0; b <= DURATION_BUCKETS.length; b++) {
        cumulative += counts[b]!;
        const le = b < DURATION_BUCKETS.length ? DURATION_BUCKETS[b]! : '+Inf';
        values.push({ metricName: `${DURATION_NAME}_bucket`, labels: { le, op }, value: cumulative });
      }
      values.push({ metricName: `${DURATION_NAME}_sum`, labels: { op }, value: this.durationSums[i]! });
      values.push({ metricName: `${DURATION_NAME}_count`, labels: { op }, value: total });
    });
    return values;
  }

  /** One event reported. */
  event(e: PlaceEvent): void {
    this.events.inc({ event: e.event });
  }

  /** Ends the current window of recent operations once it is at least `windowMs` old; returns the last whole one. */
  recent(windowMs = 2000): RecentOps {
    const now = this.nowMs();
    const age = now - this.windowStartMs;
    if (age >= windowMs) {
      const n = this.window.totalCount;
      this.recentOps = {
        opsPerSec: (n * 1000) / age,
        p50Ms: n === 0 ? null : this.window.getValueAtPercentile(50) / 1000,
        p99Ms: n === 0 ? null : this.window.getValueAtPercentile(99) / 1000,
      };
      this.window.reset();
      this.windowStartMs = now;
    }
    return this.recentOps;
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops nothing running, but drops every metric (prom-client keeps no timers of its own here). */
  clear(): void {
    this.registry.clear();
  }
}
