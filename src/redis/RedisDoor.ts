import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Place } from '../protocol/Place.js';
import type { WireMessage } from '../protocol/wire/messages.js';
import type { PlaceNode } from '../runtime/PlaceNode.js';
import { DEFAULT_RESP_LIMITS, errorReply, type RespLimits } from '../transport/RespCodec.js';
import { formatAddress, parseAddress } from '../transport/TcpLink.js';
import type { Link } from '../transport/Transport.js';
import { serverOptions, TLS_MIN_VERSION, type TransportTls } from '../transport/tlsOptions.js';
import { primaryKeys } from './RedisCommands.js';
import { type DoorHost, REDIS_VERSION, RedisConnection } from './RedisConnection.js';

/** RESP reading one event-loop turn may take before the connections still sending wait for the next (as TcpTransport's). */
const TURN_BUDGET_MS = 20;

/** Settings of a place's Redis door. */
export interface RedisDoorOptions {
  /** TLS 1.3 on the port, with the place's certificate; clients show one of the CA unless optional. */
  tls?: TransportTls;
  /** True when the place has users: every connection logs in (AUTH or HELLO AUTH) first. */
  usersOn?: boolean;
  limits?: RespLimits;
  /** Commands one connection may have in flight before it stops reading (default 4096). */
  maxPipeline?: number;
  /** How long a request refused before it ran is sent again before the refusal is answered (default: the failure timeout). */
  retryUnavailableMs?: number;
  /** Open connections at most (default 10,000); one more is told why and closed. */
  maxConnections?: number;
  log?: (level: 'warn' | 'info', msg: string) => void;
}

/**
 * A place's RESP port: Redis clients and tools (redis-cli -c, ioredis Cluster, redis-benchmark
 * --cluster) talk to the place as to a Redis Cluster node. Key operations go through the place's
 * node (PlaceNode.receive), checked and logged in as the native protocol's are.
 */
export class RedisDoor implements DoorHost {
  private server: Server | null = null;
  private readonly connections = new Set<RedisConnection>();
  private readonly tlsConfig: TransportTls | undefined;
  readonly usersOn: boolean;
  readonly limits: RespLimits;
  readonly maxPipeline: number;
  readonly retryUnavailableMs: number;
  readonly limitsOfStore: { maxKeyBytes: number; maxValueBytes: number };
  private readonly maxConnections: number;
  private readonly log: NonNullable<RedisDoorOptions['log']>;
  private readonly startedMs = Date.now();
  private commandsSeen = 0;
  private bound: string | null = null;
  /** When this event-loop turn's first RESP read began (null between turns). */
  private turnStartMs: number | null = null;
  private readonly yielded = new Set<RedisConnection>();

  constructor(
    private readonly node: PlaceNode,
    options: RedisDoorOptions = {},
  ) {
    this.tlsConfig = options.tls;
    this.usersOn = options.usersOn ?? false;
    const maxValueBytes = node.config.limits.maxValueBytes;
    this.limits = options.limits ?? {
      ...DEFAULT_RESP_LIMITS,
      // A value over the store's limit still parses, so it is refused with a reply, not a closed link.
      maxBulkBytes: Math.max(DEFAULT_RESP_LIMITS.maxBulkBytes, maxValueBytes * 2),
      maxArrayLength: 64 * 1024,
      // Every key of a command is in flight at once: MSET's values are bounded together.
      maxCommandBytes: Math.max(64 * 1024 * 1024, maxValueBytes * 4),
    };
    this.maxPipeline = options.maxPipeline ?? 4096;
    this.limitsOfStore = node.config.limits;
    // A lease that lapsed under load is back within a failure timeout, or the place is cut off.
    this.retryUnavailableMs = options.retryUnavailableMs ?? node.config.failureTimeoutMs;
    this.maxConnections = options.maxConnections ?? 10_000;
    this.log = options.log ?? (() => {});
  }

  get place(): Place {
    return this.node.place;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  receive(link: Link, msg: WireMessage): void {
    if (msg.t === 'op') this.commandsSeen++;
    this.node.receive(link, msg);
  }

  drain(): void {
    this.node.drain();
  }

  forget(link: Link): void {
    this.node.forget(link);
  }

  closed(c: RedisConnection): void {
    this.connections.delete(c);
    this.yielded.delete(c);
  }

  readBegins(): void {
    if (this.turnStartMs !== null) return;
    this.turnStartMs = performance.now();
    // setImmediate runs after the poll phase: the turn's reads are over by then.
    setImmediate(() => {
      this.turnStartMs = null;
      const waiting = [...this.yielded];
      this.yielded.clear();
      for (const c of waiting) c.resumeTurn();
    });
  }

  turnSpent(c: RedisConnection): boolean {
    if (this.turnStartMs === null || performance.now() - this.turnStartMs < TURN_BUDGET_MS) return false;
    this.yielded.add(c);
    return true;
  }

  /** Starts listening at address ("host:port"); resolves with the address bound. */
  async listen(address: string): Promise<string> {
    const { host, port } = parseAddress(address);
    const t = this.tlsConfig;
    const server =
      t === undefined
        ? createNetServer({ allowHalfOpen: true }, (s) => this.accept(s))
        : createTlsServer({ ...serverOptions(t), minVersion: TLS_MIN_VERSION, allowHalfOpen: true }, (s) =>
            this.accept(s),
          );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        // Accepting can fail later (too many open files): logged, and the place goes on.
        server.on('error', (err) => this.log('warn', `RESP port: ${err.message}`));
        resolve();
      });
    });
    this.server = server;
    const a = server.address();
    this.bound = typeof a === 'object' && a !== null ? formatAddress(host, a.port) : address;
    return this.bound;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** New connections use the certificates now in the directory (SIGHUP); open ones keep theirs. */
  reloadTls(t: TransportTls): void {
    const server = this.server;
    if (server !== null && 'setSecureContext' in server)
      (server as unknown as { setSecureContext(o: object): void }).setSecureContext(serverOptions(t));
  }

  private accept(socket: Socket): void {
    // A peer may reset the connection at any time, a refused one too: never an unhandled error.
    socket.on('error', () => socket.destroy());
    const t = this.tlsConfig;
    if (t !== undefined && (t.clientCerts ?? 'require') === 'require' && !(socket as TLSSocket).authorized) {
      socket.end(
        errorReply(
          'ERR this place requires a client certificate signed by its CA (redis-cli --tls --cacert ca.crt --cert client.crt --key client.key)',
        ),
      );
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      socket.end(errorReply(`ERR max number of clients reached (${this.maxConnections})`));
      return;
    }
    this.connections.add(new RedisConnection(this, socket));
  }

  /** INFO's text for one section or all: what Redis clients and tools read (loading, cluster_enabled, ...). */
  info(section: string | null): string {
    const place = this.node.place;
    const mem = process.memoryUsage();
    const port = this.bound === null ? 0 : parseAddress(this.bound).port;
    const sections: [string, string[]][] = [
      [
        'server',
        [
          `redis_version:${REDIS_VERSION}`,
          'placestore_version:0.1.0',
          'redis_mode:cluster',
          `os:${process.platform} ${process.arch}`,
          'arch_bits:64',
          `process_id:${process.pid}`,
          `tcp_port:${port}`,
          `uptime_in_seconds:${Math.floor((Date.now() - this.startedMs) / 1000)}`,
        ],
      ],
      ['clients', [`connected_clients:${this.connections.size}`, 'blocked_clients:0']],
      [
        'memory',
        [
          `used_memory:${mem.heapUsed + mem.external}`,
          `used_memory_human:${((mem.heapUsed + mem.external) / 1048576).toFixed(2)}M`,
          `used_memory_rss:${mem.rss}`,
          'maxmemory:0',
          'maxmemory_policy:noeviction',
        ],
      ],
      ['persistence', ['loading:0', 'async_loading:0', 'rdb_bgsave_in_progress:0', 'aof_enabled:0']],
      ['stats', [`total_commands_processed:${this.commandsSeen}`, 'expired_keys:0', 'evicted_keys:0']],
      ['replication', ['role:master', 'connected_slaves:0']],
      ['cluster', ['cluster_enabled:1']],
      ['keyspace', [`db0:keys=${primaryKeys(place)},expires=0,avg_ttl=0`]],
    ];
    const wanted =
      section === null || section === 'all' || section === 'everything' || section === 'default'
        ? sections
        : sections.filter(([name]) => name === section);
    return wanted
      .map(([name, lines]) => `# ${name[0]!.toUpperCase()}${name.slice(1)}\r\n${lines.join('\r\n')}\r\n`)
      .join('\r\n');
  }
}
