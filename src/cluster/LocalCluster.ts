import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../client/connect.js';
import type { StoreClient } from '../client/StoreClient.js';
import type { ClusterStatus } from '../protocol/messages.js';

/** Options of a local cluster of place processes. */
export interface LocalClusterOptions {
  places?: number;
  spares?: number;
  host?: string;
  /** First port; places listen on port, port+1, ... */
  port?: number;
  /** Zones assigned round-robin to the places. */
  zones?: string[];
  /** Where each place writes its log (default: a new folder under the OS temp dir). */
  logDir?: string;
  /** Extra flags given to every place (e.g. ['--partitions', '64']). */
  placeArgs?: string[];
  /** Milliseconds to wait for every partition to have a primary and a backup (default 30000). */
  readyTimeoutMs?: number;
}

/** One place process of a local cluster. */
export interface LocalPlace {
  address: string;
  child: ChildProcess;
  logFile: string;
  spare: boolean;
  /** Exit code or signal once it has exited. */
  exit: string | null;
}

const CLI_PATH = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** A cluster of place processes on this machine, for development, tests and benchmarks. */
export class LocalCluster {
  readonly places: LocalPlace[] = [];
  readonly logDir: string;
  private stopping = false;

  private constructor(
    private readonly options: Required<Omit<LocalClusterOptions, 'zones'>> & { zones: string[] },
  ) {
    this.logDir = options.logDir;
  }

  /** Starts the places and resolves once every partition has a live primary and backup. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const cluster = new LocalCluster({
      places: options.places ?? 3,
      spares: options.spares ?? 1,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 7400,
      zones: options.zones ?? [],
      logDir: options.logDir ?? mkdtempSync(join(tmpdir(), 'placestore-')),
      placeArgs: options.placeArgs ?? [],
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
    });
    try {
      await cluster.spawnAll();
      await cluster.waitReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The addresses of every place, for clients' seeds. */
  get seeds(): string[] {
    return this.places.map((p) => p.address);
  }

  /** Starts places one at a time, each once the previous has joined, so place i gets id i. */
  private async spawnAll(): Promise<void> {
    const { places, spares, host, port, zones } = this.options;
    if (places < 1) throw new Error(`--places must be at least 1, got ${places}`);
    const total = places + spares;
    for (let i = 0; i < total; i++) {
      const address = `${host}:${port + i}`;
      const args = ['place', '--listen', address, '--exit-with-stdin'];
      if (i === 0) args.push('--min-places', String(places));
      else args.push('--join', this.places.map((p) => p.address).join(','));
      if (i >= places) args.push('--spare');
      if (zones.length > 0) args.push('--zone', zones[i % zones.length]);
      args.push(...this.options.placeArgs);
      this.spawnPlace(address, args, i >= places);
      await this.waitFor((st) => st.places.length > i, `place ${address} to join`);
    }
  }

  private spawnPlace(address: string, args: string[], spare: boolean): void {
    const logFile = join(this.logDir, `place-${address.replace(/[:[\]]/g, '_')}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['pipe', fd, fd] });
    closeSync(fd);
    const place: LocalPlace = { address, child, logFile, spare, exit: null };
    child.on('exit', (code, signal) => {
      place.exit = signal ?? String(code);
    });
    this.places.push(place);
  }

  /** Fetches the cluster's status from any live place. */
  async status(timeoutMs = 2000): Promise<ClusterStatus> {
    const client = await this.client(timeoutMs);
    try {
      return await client.status();
    } finally {
      await client.close();
    }
  }

  /** Connects a client to this cluster. */
  client(timeoutMs = 5000): Promise<StoreClient> {
    return connect({ seeds: this.seeds, timeoutMs });
  }

  private waitReady(): Promise<void> {
    const total = this.options.places + this.options.spares;
    return this.waitFor((s) => isRepaired(s, total), 'every partition to have a primary and a backup');
  }

  /** Polls status until cond holds; fails fast when a place exits, and after readyTimeoutMs. */
  private async waitFor(cond: (s: ClusterStatus) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    let last = 'no place answered yet';
    while (Date.now() < deadline) {
      const dead = this.places.find((p) => p.exit !== null);
      if (dead) throw new Error(`place ${dead.address} exited (${dead.exit}): ${tail(dead.logFile)}`);
      try {
        const s = await this.status(1000);
        if (cond(s)) return;
        last = `${s.places.length} places joined, formed=${s.formed}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out after ${this.options.readyTimeoutMs} ms waiting for ${what}: ${last}`);
  }

  /** Sends signal to the place at index i (as a fault test would). */
  signal(i: number, signal: NodeJS.Signals): void {
    const p = this.places[i];
    if (p.exit === null && p.child.pid !== undefined) process.kill(p.child.pid, signal);
  }

  /** Stops every place: SIGTERM, then SIGKILL for any still running after 3 s. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const running = this.places.filter((p) => p.exit === null && p.child.exitCode === null);
    const exited = running.map((p) => new Promise<void>((r) => p.child.once('exit', () => r())));
    for (const p of running) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      for (const p of running)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }, 3000);
    await Promise.all(exited);
    clearTimeout(timer);
  }
}

/** True when the store is valid, all places joined and every partition has a live primary and backup. */
export function isRepaired(s: ClusterStatus, expectedPlaces?: number): boolean {
  if (!s.valid || !s.formed || s.partitions.length === 0) return false;
  if (expectedPlaces !== undefined && s.places.filter((p) => p.state !== 'dead').length < expectedPlaces)
    return false;
  const live = new Set(s.places.filter((p) => p.state !== 'dead').map((p) => p.id));
  return s.partitions.every(
    (p) =>
      p.state === 'ok' &&
      p.primary !== null &&
      p.backup !== null &&
      live.has(p.primary) &&
      live.has(p.backup),
  );
}

function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}
