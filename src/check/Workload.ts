import { StoreInvalidError } from '../client/errors.js';
import type { StoreClient } from '../client/StoreClient.js';
import { seededRandom } from '../util/random.js';
import type { Fn, HistoryRecorder } from './history.js';

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the register workload does. */
export interface WorkloadOptions {
  /** Concurrent logical clients, each with its own connection. */
  clients: number;
  keys: number;
  seed: number;
  /** Stop invoking new operations at this recorder time (ns). */
  untilNs: number;
  /** Upper bound on operations per client, whatever the duration. */
  maxOpsPerClient: number;
  /** Operations per second across all clients (each client paces itself to its share). */
  ratePerSecond: number;
  /** Waits ms milliseconds (real timers by default; the simulator's virtual ones). */
  sleep?: (ms: number) => Promise<void>;
}

/** Counts of what the workload saw. */
export interface WorkloadStats {
  ops: number;
  ok: number;
  fail: number;
  info: number;
}

/**
 * A concurrent workload of reads, writes, compareAndSwaps and deletes over a few keys. Every written
 * value is unique (a global counter), so a value read names the write that produced it. After an
 * operation with unknown outcome, its client continues under a new process id (docs/contract.md).
 */
export class Workload {
  readonly stats: WorkloadStats = { ops: 0, ok: 0, fail: 0, info: 0 };
  private nextProcess = 0;
  private nextValue = 1;
  private stopped = false;

  constructor(
    private readonly options: WorkloadOptions,
    private readonly recorder: HistoryRecorder,
  ) {}

  /** The keys the workload uses. */
  get keys(): string[] {
    return Array.from({ length: this.options.keys }, (_, i) => `k${i}`);
  }

  /** Asks every client to stop after its current operation. */
  stop(): void {
    this.stopped = true;
  }

  /** Runs one loop per client until the deadline (or stop), and resolves when all are done. */
  async run(clients: StoreClient[]): Promise<void> {
    await Promise.all(clients.map((c, i) => this.loop(c, i)));
  }

  private async loop(client: StoreClient, index: number): Promise<void> {
    const random = seededRandom(this.options.seed * 1000 + index + 1);
    const keys = this.keys;
    const known = new Map<string, unknown>();
    let process = this.nextProcess++;
    const gapNs = (1e9 * this.options.clients) / this.options.ratePerSecond;
    let nextStart = this.recorder.now() + random() * gapNs;
    for (let n = 0; n < this.options.maxOpsPerClient; n++) {
      const wait = (nextStart - this.recorder.now()) / 1e6;
      if (wait > 0) await (this.options.sleep ?? realSleep)(wait);
      nextStart = Math.max(nextStart + gapNs, this.recorder.now());
      if (this.stopped || this.recorder.now() >= this.options.untilNs) return;
      const key = keys[Math.floor(random() * keys.length)];
      const r = random();
      const f: Fn = r < 0.4 ? 'read' : r < 0.7 ? 'write' : r < 0.95 ? 'cas' : 'delete';
      let input: unknown = null;
      if (f === 'write') input = this.nextValue++;
      if (f === 'cas') input = [known.get(key) ?? null, this.nextValue++];
      this.recorder.record(process, 'invoke', f, key, input);
      this.stats.ops++;
      try {
        const output = await this.invoke(client, f, key, input);
        if (f === 'cas' && output === false) {
          this.recorder.record(process, 'fail', f, key, input);
          this.stats.fail++;
          known.delete(key);
          continue;
        }
        this.recorder.record(process, 'ok', f, key, f === 'read' ? output : input);
        this.stats.ok++;
        if (f === 'read') known.set(key, output);
        if (f === 'write') known.set(key, input);
        if (f === 'cas') known.set(key, (input as unknown[])[1]);
        if (f === 'delete') known.set(key, null);
      } catch (err) {
        // Unknown outcome (timeout, lost connection, store invalid): the process never reappears.
        this.recorder.record(process, 'info', f, key, input);
        this.stats.info++;
        process = this.nextProcess++;
        // An invalid store fails every later call at once: more of them would only pad the history.
        if (err instanceof StoreInvalidError) return;
      }
    }
  }

  private async invoke(client: StoreClient, f: Fn, key: string, input: unknown): Promise<unknown> {
    switch (f) {
      case 'read':
        return (await client.get(key)) ?? null;
      case 'write':
        await client.put(key, input);
        return input;
      case 'cas': {
        const [expected, next] = input as [unknown, unknown];
        return client.compareAndSwap(key, expected ?? undefined, next);
      }
      case 'delete':
        await client.delete(key);
        return null;
    }
  }
}
