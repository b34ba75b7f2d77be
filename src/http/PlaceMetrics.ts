import hdr from 'hdr-histogram-js';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PlaceEvent } from '../protocol/events.js';
import type { OpObserver } from '../runtime/RequestMeter.js';
import type { PlaceView } from './PlaceView.js';

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const OP_KINDS = ['get', 'put', 'del', 'cas', 'submit'] as const;

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
  private readonly ops: Counter<'op' | 'result'>;
  private readonly durations: Histogram<'op'>;
  private readonly events: Counter<'event'>;
  /** Children of the labelled metrics, made once: observing then allocates nothing. */
  private readonly opChildren = new Map<string, ReturnType<Counter<'op' | 'result'>['labels']>>();
  private readonly durationChildren = new Map<string, ReturnType<Histogram<'op'>['labels']>>();
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
    this.ops = new Counter({
      name: 'placestore_ops_total',
      help: 'Client operations answered by this place, by kind and result (ok or an error code).',
      labelNames: ['op', 'result'],
      registers,
    });
    this.durations = new Histogram({
      name: 'placestore_op_duration_seconds',
      help: 'Time from a client operation reaching this place to its answer leaving it.',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    for (const op of OP_KINDS) this.durationChildren.set(op, this.durations.labels({ op }));
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
    const key = `${op} ${result}`;
    let counter = this.opChildren.get(key);
    if (counter === undefined) {
      counter = this.ops.labels({ op, result });
      this.opChildren.set(key, counter);
    }
    counter.inc();
    this.answered++;
    (this.durationChildren.get(op) ?? this.durations.labels({ op })).observe(seconds);
    this.window.recordValue(Math.max(1, Math.round(seconds * 1e6)));
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
