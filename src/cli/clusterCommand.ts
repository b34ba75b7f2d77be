import { LocalCluster } from '../cluster/LocalCluster.js';
import { CliError, EXIT } from './options.js';

/** Flags of `placestore cluster`. */
export interface ClusterFlags {
  places: number;
  spares: number;
  host: string;
  port: number;
  zones?: string[];
  partitions?: number;
  failureTimeoutMs?: number;
  voters?: number;
  lostAfterMs?: number;
  processors?: string;
  respawn?: boolean;
  httpPort?: number;
  respPort?: number;
  certsDir?: string;
  usersFile?: string;
  user?: string;
}

/** Runs a local cluster in the foreground until SIGINT or SIGTERM, then stops its places and exits 0. */
export async function runCluster(flags: ClusterFlags): Promise<void> {
  const placeArgs: string[] = [];
  if (flags.partitions !== undefined) placeArgs.push('--partitions', String(flags.partitions));
  if (flags.failureTimeoutMs !== undefined)
    placeArgs.push('--failure-timeout-ms', String(flags.failureTimeoutMs));
  if (flags.voters !== undefined) placeArgs.push('--voters', String(flags.voters));
  if (flags.lostAfterMs !== undefined) placeArgs.push('--lost-after-ms', String(flags.lostAfterMs));
  if (flags.processors !== undefined) placeArgs.push('--processors', flags.processors);
  if (flags.usersFile !== undefined) placeArgs.push('--users-file', flags.usersFile);
  let login: { user: string; password: string } | undefined;
  if (flags.usersFile !== undefined) {
    const password = process.env.PLACESTORE_PASSWORD;
    if (flags.user === undefined || password === undefined || password === '')
      throw new CliError(
        EXIT.usage,
        '--users-file needs --user (an admin of that file) and its password in PLACESTORE_PASSWORD',
      );
    login = { user: flags.user, password };
  }
  const total = flags.places + flags.spares;
  if (total === 2)
    process.stderr.write(
      'note: with two places both vote, so neither can take over from the other: if one fails or is cut off, the store answers "no quorum" until it is back. Use three places (or a spare) for failover.\n',
    );
  process.stderr.write(
    `starting ${flags.places} place(s) and ${flags.spares} spare(s) on ${flags.host}:${flags.port}..${flags.port + total - 1}\n`,
  );
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      places: flags.places,
      spares: flags.spares,
      host: flags.host,
      port: flags.port,
      zones: flags.zones,
      placeArgs,
      respawn: flags.respawn === true,
      httpPort: flags.httpPort,
      respPort: flags.respPort,
      certsDir: flags.certsDir,
      login,
      // Without TLS this is what keeps strangers from posing as places; with it, it costs nothing.
      clusterSecret: true,
      onEvent: (line) => process.stderr.write(line + '\n'),
    });
  } catch (err) {
    throw new CliError(EXIT.unavailable, (err as Error).message);
  }
  process.stderr.write(`places prove they know the cluster secret in ${cluster.secretFile}\n`);
  cluster.places.forEach((p, i) => {
    const http = cluster.httpAddress(i);
    const resp = cluster.respAddress(i);
    process.stderr.write(
      `  ${p.spare ? 'spare' : 'place'} ${p.address} pid ${p.child.pid} logs to ${p.logFile}${http === null ? '' : `, dashboard http://${http}/`}${resp === null ? '' : `, redis-cli -c -h ${resp.replace(/:\d+$/, '')} -p ${resp.replace(/^.*:/, '')}`}\n`,
    );
  });
  process.stdout.write(`placestore ready seeds=${cluster.seeds.join(',')}\n`);
  process.stderr.write(
    `try: placestore put hello world --seeds ${cluster.seeds[0]}; placestore status --seeds ${cluster.seeds[0]}\n` +
      'Ctrl-C stops the cluster.\n',
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('stopping the cluster\n');
  await cluster.stop();
}
