import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { PlaceHttp } from '../http/PlaceHttp.js';
import { PlaceMetrics } from '../http/PlaceMetrics.js';
import { PlaceView } from '../http/PlaceView.js';
import { processDefects } from '../protocol/defects.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../protocol/PlaceConfig.js';
import { processorRegistry } from '../protocol/requests/processors.js';
import { RedisDoor } from '../redis/RedisDoor.js';
import type { StampedEvent } from '../runtime/EventRing.js';
import { loopBlockMonitor } from '../runtime/loopBlockMonitor.js';
import { PlaceNode } from '../runtime/PlaceNode.js';
import { readCertsDir, readSecretFile } from '../security/certificates.js';
import { Authenticator } from '../security/users.js';
import { formatAddress } from '../transport/TcpLink.js';
import { parseAddress, TcpTransport, type TransportTls } from '../transport/TcpTransport.js';
import { realScheduler } from '../util/Scheduler.js';
import { CliError, EXIT } from './options.js';

/** Flags of `placestore place`. */
export interface PlaceFlags {
  listen: string;
  join?: string[];
  spare?: boolean;
  zone?: string;
  partitions: number;
  minPlaces: number;
  failureTimeoutMs: number;
  voters: number;
  lostAfterMs: number;
  maxRequestsInFlight: number;
  maxOutcomesPerPartition: number;
  maxCopiesInFlight: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  processors?: string;
  logLevel: string;
  exitWithStdin?: boolean;
  httpListen?: string;
  respListen?: string;
  certsDir?: string;
  clientCerts: 'require' | 'optional';
  usersFile?: string;
  clusterSecretFile?: string;
  advertise?: string;
}

/** Loads user processors from a module: its default export (an object of functions) or its named exports. */
export async function loadProcessors(file: string | undefined): Promise<Record<string, unknown>> {
  if (file === undefined) return {};
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(resolve(file)).href);
  } catch (err) {
    throw new CliError(EXIT.usage, `--processors ${file}: cannot load module: ${(err as Error).message}`);
  }
  const source =
    typeof mod.default === 'object' && mod.default !== null
      ? (mod.default as Record<string, unknown>)
      : Object.fromEntries(Object.entries(mod).filter(([k]) => k !== 'default'));
  return source;
}

/** Runs one place in the foreground until SIGINT or SIGTERM. */
export async function runPlace(flags: PlaceFlags): Promise<void> {
  const log = pino({ level: flags.logLevel, base: { place: flags.advertise ?? flags.listen } });
  let processors: PlaceConfig['processors'];
  try {
    processors = processorRegistry(await loadProcessors(flags.processors));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(EXIT.usage, `--processors: ${(err as Error).message}`);
  }
  const config: PlaceConfig = {
    ...DEFAULT_TUNING,
    // The table lists the address the others use.
    address: flags.advertise ?? flags.listen,
    zone: flags.zone ?? null,
    spare: flags.spare === true,
    pid: process.pid,
    seeds: flags.join ?? [],
    partitionCount: flags.partitions,
    minPlaces: flags.minPlaces,
    failureTimeoutMs: flags.failureTimeoutMs,
    voters: flags.voters,
    lostAfterMs: flags.lostAfterMs,
    maxRequestsInFlight: flags.maxRequestsInFlight,
    maxResultsPerPartition: flags.maxOutcomesPerPartition,
    maxCopiesInFlight: flags.maxCopiesInFlight,
    limits: { ...DEFAULT_LIMITS, maxKeyBytes: flags.maxKeyBytes, maxValueBytes: flags.maxValueBytes },
    processors,
    defects: processDefects(),
  };
  let tls: TransportTls | undefined;
  if (flags.certsDir !== undefined) {
    try {
      tls = { ...readCertsDir(flags.certsDir, 'place'), clientCerts: flags.clientCerts };
    } catch (err) {
      throw new CliError(EXIT.usage, (err as Error).message);
    }
  } else if (!isLoopback(flags.listen)) {
    const warning = `WARNING: listening on ${flags.listen}, beyond loopback, without TLS: anyone who reaches the port can read every key and every password, and write${flags.clusterSecretFile === undefined ? ', and pose as a place' : ''}. Use --certs-dir (docs/deploying.md).`;
    log.warn(warning);
    process.stderr.write(`placestore: ${warning}\n`);
  }
  let secret: Buffer | undefined;
  if (flags.clusterSecretFile !== undefined) {
    try {
      secret = readSecretFile(flags.clusterSecretFile);
    } catch (err) {
      throw new CliError(EXIT.usage, (err as Error).message);
    }
  }
  let users: Authenticator | undefined;
  if (flags.usersFile !== undefined && flags.certsDir === undefined && flags.clusterSecretFile === undefined)
    // Else anyone could say it is a place, and places do not log in.
    throw new CliError(
      EXIT.usage,
      '--users-file needs --certs-dir or --cluster-secret-file: without them any connection could pose as a place and skip the login',
    );
  if (flags.usersFile !== undefined) {
    try {
      users = new Authenticator(flags.usersFile);
    } catch (err) {
      throw new CliError(EXIT.usage, `--users-file: ${(err as Error).message}`);
    }
    if (users.size === 0)
      log.warn(
        `${flags.usersFile} lists no users: no client can log in (placestore users add NAME --role admin --file ${flags.usersFile})`,
      );
    if (tls === undefined)
      log.warn('users without TLS: passwords cross the network in clear; use --certs-dir as well');
  }
  const transport = new TcpTransport({
    tls,
    secret,
    maxFrameBytes: Math.max(16 * 1024 * 1024, flags.maxValueBytes * 2 + 64 * 1024),
    // A cut link is noticed, and closed, within a failure timeout (what it held is sent again).
    keepaliveMs: flags.failureTimeoutMs,
    // Its connections say a place dialled them: only those carry the places' protocol.
    role: 'place',
    advertise: flags.advertise,
    log: (level, msg) => log[level](msg),
  });
  const loop = loopBlockMonitor();
  let metrics: PlaceMetrics | null = null;
  const node = new PlaceNode(config, transport, realScheduler, {
    log: (level, msg) => log[level](msg),
    loopBlockMs: () => loop.read(),
    // A broken invariant is a bug: the place stops at once (a crash is inside the failure model).
    onFatal: () => process.exit(70),
    onEvent: (e) => {
      log.info(eventFields(e), e.msg);
      metrics?.event(e);
    },
    wallClockMs: Date.now,
    users,
    listen: flags.listen,
    ops:
      flags.httpListen === undefined
        ? undefined
        : { observe: (op, result, seconds) => metrics?.observe(op, result, seconds) },
  });
  let http: PlaceHttp | null = null;
  if (flags.httpListen !== undefined) {
    try {
      parseAddress(flags.httpListen);
    } catch (err) {
      throw new CliError(EXIT.usage, `--http-listen: ${(err as Error).message}`);
    }
    const view = new PlaceView(node, () => transport.connectionCounts());
    metrics = new PlaceMetrics(view, () => performance.now());
    http = new PlaceHttp(view, metrics, tls);
    try {
      // Told to the others through the table: the dashboard of one place finds the rest.
      config.httpAddress = reachable(await http.listen(flags.httpListen), config.address);
    } catch (err) {
      throw new CliError(
        EXIT.unavailable,
        `cannot serve HTTP on ${flags.httpListen}: ${(err as Error).message}`,
      );
    }
    log.info(
      { http: config.httpAddress },
      `serving metrics and the dashboard at http://${config.httpAddress}/`,
    );
  }
  let resp: RedisDoor | null = null;
  if (flags.respListen !== undefined) {
    try {
      parseAddress(flags.respListen);
    } catch (err) {
      throw new CliError(EXIT.usage, `--resp-listen: ${(err as Error).message}`);
    }
    resp = new RedisDoor(node, {
      tls,
      usersOn: users !== undefined,
      log: (level, msg) => log[level](msg),
    });
    try {
      // Told to the others through the table: MOVED and CLUSTER SLOTS name every place's RESP port.
      config.respAddress = reachable(await resp.listen(flags.respListen), config.address);
    } catch (err) {
      throw new CliError(
        EXIT.unavailable,
        `cannot serve RESP on ${flags.respListen}: ${(err as Error).message}`,
      );
    }
    if (tls === undefined && !isLoopback(flags.respListen))
      log.warn(`the RESP port ${flags.respListen} is beyond loopback without TLS: use --certs-dir`);
    log.info({ resp: config.respAddress }, `serving Redis clients (RESP) at ${config.respAddress}`);
  }
  try {
    await node.start();
  } catch (err) {
    const message = (err as Error).message;
    throw new CliError(
      EXIT.unavailable,
      message.includes(flags.listen) ? message : `cannot listen on ${flags.listen}: ${message}`,
    );
  }
  log.info(
    { join: config.seeds, spare: config.spare, zone: config.zone, processors: [...processors.keys()] },
    config.seeds.length === 0 ? 'bootstrapped a new cluster' : 'joining',
  );
  const joinWatch = setInterval(() => {
    const id = node.place.id;
    if (id === null) return;
    clearInterval(joinWatch);
    log.info({ id }, `joined the cluster as place ${id}`);
  }, 50);

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(joinWatch);
    log.info(`stopping (${why})`);
    void Promise.allSettled([node.stop(), http?.close(), resp?.close()]).finally(() => process.exit(0));
  };
  process.on('SIGHUP', () => {
    if (users !== undefined) {
      try {
        users.reload();
        const known = users;
        node.usersChanged((name) => known.roleOf(name));
        log.info(`reloaded ${users.size} users from ${flags.usersFile}`);
      } catch (err) {
        log.error(`SIGHUP: kept the old users: ${(err as Error).message}`);
      }
    }
    // Rotation: new connections use the certificates now in --certs-dir; open ones keep theirs.
    if (flags.certsDir === undefined) return;
    try {
      const next = { ...readCertsDir(flags.certsDir, 'place'), clientCerts: flags.clientCerts };
      transport.reloadTls(next);
      http?.reloadTls(next);
      resp?.reloadTls(next);
      log.info(`reloaded the certificates in ${flags.certsDir}`);
    } catch (err) {
      log.error(`SIGHUP: kept the old certificates: ${(err as Error).message}`);
    }
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (flags.exitWithStdin === true) {
    process.stdin.on('end', () => stop('parent went away'));
    process.stdin.on('error', () => stop('parent went away'));
    process.stdin.resume();
  }
  await new Promise<never>(() => {});
}

/**
 * An event's fields for its log line: `event` names its kind; `placeId` is the reporting place's id
 * (its address is in every line already, as `place`).
 */
function eventFields(e: StampedEvent): Record<string, unknown> {
  const { place, origin: _origin, msg: _msg, time: _time, ...rest } = e;
  return { ...rest, placeId: place };
}

/** True for an address on the loopback network (127.0.0.0/8, ::1, localhost). */
function isLoopback(address: string): boolean {
  const { host } = parseAddress(address);
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** An address bound to a wildcard (0.0.0.0, ::) as others reach it: with the host of the place's own address. */
function reachable(bound: string, placeAddress: string): string {
  const { host, port } = parseAddress(bound);
  if (host !== '0.0.0.0' && host !== '::') return bound;
  return formatAddress(parseAddress(placeAddress).host, port);
}
