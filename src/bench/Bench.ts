import hdr from 'hdr-histogram-js';
/** What bench drives: placestore's client, or an adapter for another store (bench:compare). */
export interface BenchTarget {
  put(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
  compareAndSwap?(key: string, expected: unknown, next: unknown): Promise<boolean>;
}

export type BenchOp = 'put' | 'get' | 'mixed' | 'cas';

/** What to measure. */
export interface BenchOptions {
  op: BenchOp;
  /** Requests in flight at once. */
  clients: number;
  keys: number;
  valueBytes: number;
  seconds: number;
  warmup: number;
  /** Called about once a second with a progress line. */
  onProgress?: (line: string) => void;
}

/** The JSON line of `placestore bench --json` (docs/contract.md), plus the error count. */
export interface BenchResult {
  target: string;
  op: BenchOp;
  clients: number;
  ops: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  errors: number;
}

// Bounds every load loop even if the clock misbehaves.
const MAX_OPS = 200_000_000;

/**
 * Runs `clients` request loops against one pipelining client: warmup, then `seconds` of measured
 * requests, each latency recorded in an HDR histogram. mixed is 80% get, 20% put; cas loops swap the
 * value they last set (loops may share keys, so some swaps fail; they count as operations too).
 */
export async function runBench(
  client: BenchTarget,
  o: BenchOptions,
  target = 'placestore',
): Promise<BenchResult> {
  const value = 'x'.repeat(o.valueBytes);
  if (o.op === 'get' || o.op === 'mixed' || o.op === 'cas') await prefill(client, o.keys, value, o);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const start = performance.now();
  const measureFrom = start + o.warmup * 1000;
  const end = measureFrom + o.seconds * 1000;
  let ops = 0;
  let errors = 0;
  let issued = 0;
  let lastProgress = start;

  const loop = async (worker: number): Promise<void> => {
    let n = worker;
    const casValues = new Map<string, string>();
    while (issued < MAX_OPS) {
      const t0 = performance.now();
      if (t0 >= end) return;
      issued++;
      const key = `bench-${n % o.keys}`;
      n += o.clients;
      try {
        switch (o.op) {
          case 'put':
            await client.put(key, value);
            break;
          case 'get':
            await client.get(key);
            break;
          case 'mixed':
            if (n % 5 === 0) await client.put(key, value);
            else await client.get(key);
            break;
          case 'cas': {
            const current = casValues.get(key) ?? value;
            const next = `${worker}-${n}`;
            if (client.compareAndSwap === undefined) throw new Error('this target has no compareAndSwap');
            if (await client.compareAndSwap(key, current, next)) casValues.set(key, next);
            break;
          }
        }
      } catch {
        errors++;
      }
      const t1 = performance.now();
      if (t0 >= measureFrom && t1 <= end) {
        histogram.recordValue(Math.max(1, Math.round((t1 - t0) * 1000)));
        ops++;
      }
      if (o.onProgress !== undefined && t1 - lastProgress >= 1000) {
        lastProgress = t1;
        const phase =
          t1 < measureFrom
            ? 'warmup'
            : `${Math.min(o.seconds, (t1 - measureFrom) / 1000).toFixed(0)}/${o.seconds} s`;
        const rate = t1 > measureFrom ? Math.round(ops / ((t1 - measureFrom) / 1000)) : 0;
        o.onProgress(`bench ${o.op}: ${phase}, ${rate} ops/s, ${errors} errors`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, i) => loop(i)));
  const result: BenchResult = {
    target,
    op: o.op,
    clients: o.clients,
    ops,
    seconds: o.seconds,
    ops_per_sec: Math.round(ops / o.seconds),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    p999_us: histogram.getValueAtPercentile(99.9),
    max_us: histogram.maxValue,
    errors,
  };
  histogram.destroy();
  return result;
}

async function prefill(client: BenchTarget, keys: number, value: string, o: BenchOptions): Promise<void> {
  // Bench keys start out holding `value`, which the cas workers expect.
  const inFlight = Math.max(1, Math.min(256, o.clients * 4));
  let next = 0;
  const worker = async () => {
    while (next < keys) {
      const k = next++;
      await client.put(`bench-${k}`, value);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  o.onProgress?.(`bench: prefilled ${keys} keys`);
}
