import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../client/connect.js';
import type { StoreClient } from '../client/StoreClient.js';
import type { ClusterStatus } from '../protocol/wire/messages.js';
import { writeSecretFile } from '../security/certificates.js';
import type { NetnsHosts } from './NetnsHosts.js';

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
  /** Restart every place that dies as a new spare at the same address, so the cluster heals itself. */
  respawn?: boolean;
  /** Called with a line for a person whenever a place exits or is respawned. */
  onEvent?: (line: string) => void;
  /** The script run (with node) for each place, taking the `place` command's arguments (default: this CLI). */
  cliPath?: string;
  /** Flags for node itself in every place process (e.g. ['--max-old-space-size=8192']). */
  nodeArgs?: string[];
  /**
   * Hosts in network namespaces: place i (and whatever replaces it) runs in host i, at the host's
   * address and `port`, instead of at host:port+i. Needs one host per place and spare.
   */
  netns?: NetnsHosts;
  /** First HTTP port: place i (and whatever replaces it) serves metrics and the dashboard at host:httpPort+i. */
  httpPort?: number;
  /** First RESP port: place i (and whatever replaces it) serves Redis clients at host:respPort+i. */
  respPort?: number;
  /** TLS on every port: a directory `placestore certs` wrote (every place gets `--certs-dir`). */
  certsDir?: string;
  /** Generate a cluster secret (in logDir) that every place's connections must prove they know. */
  clusterSecret?: boolean;
  /** For a cluster with users (placeArgs holds --users-file): who this cluster's own client logs in as. */
  login?: { user: string; password: string };
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
type Resolved = Required<
  Omit<LocalClusterOptions, 'zones' | 'onEvent' | 'netns' | 'httpPort' | 'respPort' | 'certsDir' | 'login'>
> & {
  httpPort?: number;
  respPort?: number;
  certsDir?: string;
  login?: { user: string; password: string };
  zones: string[];
  onEvent?: (line: string) => void;
  netns?: NetnsHosts;
};

/** A cluster of place processes on this machine, for development, tests and benchmarks. */
export class LocalCluster {
  readonly places: LocalPlace[] = [];
  readonly logDir: string;
  private stopping = false;

  private constructor(private readonly options: Resolved) {
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
      respawn: options.respawn ?? false,
      onEvent: options.onEvent,
      cliPath: options.cliPath ?? CLI_PATH,
      nodeArgs: options.nodeArgs ?? [],
      netns: options.netns,
      httpPort: options.httpPort,
      respPort: options.respPort,
      certsDir: options.certsDir,
      login: options.login,
      clusterSecret: options.clusterSecret ?? false,
    });
    try {
      if (cluster.options.clusterSecret) writeSecretFile(cluster.secretFile);
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

  /** Waits until the store is valid, every place is alive and joined, and every partition is ok. */
  async waitRepaired(timeoutMs = 30_000): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ClusterStatus | undefined;
    while (Date.now() < deadline) {
      try {
        last = await this.status(1000);
        if (isRepaired(last)) return last;
      } catch {
        // a place may be down; try again
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `not repaired within ${timeoutMs} ms: ${last === undefined ? 'no status' : summarize(last)}`,
    );
  }

  /** Starts places one at a time, each once the previous has joined, so place i gets id i. */
  private async spawnAll(): Promise<void> {
    const { places, spares, host, port, zones } = this.options;
    if (places < 1) throw new Error(`--places must be at least 1, got ${places}`);
    const total = places + spares;
    const netns = this.options.netns;
    if (netns !== undefined && netns.hosts.length < total)
      throw new Error(`${total} places need ${total} hosts, got ${netns.hosts.length}`);
    for (let i = 0; i < total; i++) {
      const address = netns === undefined ? `${host}:${port + i}` : `${netns.hosts[i]!.ip}:${port}`;
      const args = ['place', '--listen', address, '--exit-with-stdin'];
      if (i === 0) args.push('--min-places', String(places));
      else args.push('--join', this.places.map((p) => p.address).join(','));
      if (i >= places) args.push('--spare');
      if (zones.length > 0) args.push('--zone', zones[i % zones.length]);
      args.push(...this.placeFlags(i));
      args.push(...this.options.placeArgs);
      this.spawnPlace(address, args, i >= places, i);
      await this.waitFor((st) => st.places.length > i, `place ${address} to join`);
    }
  }

  private spawnPlace(address: string, args: string[], spare: boolean, index: number): void {
    const logFile = join(this.logDir, `place-${address.replace(/[:[\]]/g, '_')}.log`);
    const fd = openSync(logFile, 'a');
    const argv = [...this.options.nodeArgs, this.options.cliPath, ...args];
    // In a namespaced host, `ip netns exec` runs node in the namespace (it execs: the pid is node's).
    const netns = this.options.netns;
    const child =
      netns === undefined
        ? spawn(process.execPath, argv, { stdio: ['pipe', fd, fd] })
        : spawn(netns.exec(index)[0]!, [...netns.exec(index).slice(1), process.execPath, ...argv], {
            stdio: ['pipe', fd, fd],
          });
    closeSync(fd);
    const place: LocalPlace = { address, child, logFile, spare, exit: null };
    child.on('exit', (code, signal) => {
      place.exit = signal ?? String(code);
      if (this.stopping) return;
      this.options.onEvent?.(`place ${address} (pid ${child.pid}) exited (${place.exit}); see ${logFile}`);
      if (this.options.respawn && this.places[index] === place) this.respawn(index);
    });
    this.places[index] = place;
  }

  /** Where the cluster secret is (with clusterSecret): places started by hand join with it. */
  get secretFile(): string {
    return join(this.logDir, 'cluster.secret');
  }

  /** Where place i serves HTTP, if the cluster's places do. */
  httpAddress(index: number): string | null {
    const { httpPort, host } = this.options;
    if (httpPort === undefined) return null;
    const netns = this.options.netns;
    return netns === undefined ? `${host}:${httpPort + index}` : `${netns.hosts[index]!.ip}:${httpPort}`;
  }

  /** Where place i serves Redis clients (RESP), if the cluster's places do. */
  respAddress(index: number): string | null {
    const { respPort, host } = this.options;
    if (respPort === undefined) return null;
    const netns = this.options.netns;
    return netns === undefined ? `${host}:${respPort + index}` : `${netns.hosts[index]!.ip}:${respPort}`;
  }

  /** Flags of place i beside the usual ones: its HTTP and RESP addresses and TLS, where the cluster has them. */
  private placeFlags(index: number): string[] {
    const address = this.httpAddress(index);
    const args = address === null ? [] : ['--http-listen', address];
    const resp = this.respAddress(index);
    if (resp !== null) args.push('--resp-listen', resp);
    if (this.options.certsDir !== undefined) args.push('--certs-dir', this.options.certsDir);
    if (this.options.clusterSecret) args.push('--cluster-secret-file', this.secretFile);
    return args;
  }

  /** Starts a new spare at the address of the dead place at index. */
  private respawn(index: number): void {
    const address = this.places[index].address;
    const others = this.places.filter((_, i) => i !== index).map((p) => p.address);
    const args = ['place', '--listen', address, '--exit-with-stdin', '--spare', '--join', others.join(',')];
    if (this.options.zones.length > 0)
      args.push('--zone', this.options.zones[index % this.options.zones.length]);
    args.push(...this.placeFlags(index));
    args.push(...this.options.placeArgs);
    // The old process's port may take a moment to be released; a failed start is retried by the next exit.
    setTimeout(() => {
      if (this.stopping) return;
      this.spawnPlace(address, args, true, index);
      this.options.onEvent?.(`respawned ${address} as a spare (pid ${this.places[index].child.pid})`);
    }, 200);
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
    return this.connectTo(this.seeds, timeoutMs);
  }

  /** Connects a client to these places of the cluster, with its TLS and login. */
  connectTo(seeds: string[], timeoutMs = 5000): Promise<StoreClient> {
    const certsDir = this.options.certsDir;
    return connect({
      seeds,
      timeoutMs,
      tls: certsDir === undefined ? undefined : { certsDir },
      user: this.options.login?.user,
      password: this.options.login?.password,
    });
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

function summarize(s: ClusterStatus): string {
  const states = new Map<string, number>();
  for (const p of s.partitions) states.set(p.state, (states.get(p.state) ?? 0) + 1);
  return `valid=${s.valid} ${[...states].map(([k, n]) => `${n} ${k}`).join(', ')}`;
}

function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}
