#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { type BenchOp, runBench } from '../bench/Bench.js';
import { FAULT_KINDS } from '../check/Nemesis.js';
import { LocalCluster } from '../cluster/LocalCluster.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { DEFAULT_TUNING } from '../protocol/PlaceConfig.js';
import { writeCertificates } from '../security/certificates.js';
import { addUser, ROLES, type Role } from '../security/users.js';
import { runCheckCommand } from './checkCommand.js';
import {
  type ClientFlags,
  formatStatus,
  formatValue,
  parseArg,
  readPasswordLine,
  toCliError,
  withClient,
} from './clientCommands.js';
import { runCluster } from './clusterCommand.js';
import {
  addressListOption,
  addressOption,
  CliError,
  EXIT,
  intOption,
  nameListOption,
  numberOption,
  resolveSeeds,
} from './options.js';
import { runPlace } from './placeCommand.js';
import { showEvents, watchStatus } from './watchCommands.js';

let verbose = process.argv.includes('--verbose');

function clientOptions(cmd: Command): Command {
  return cmd
    .option(
      '--seeds <list>',
      'HOST:PORT,... of any places (default: $PLACESTORE_SEEDS, else 127.0.0.1:7400)',
      addressListOption,
    )
    .option('--timeout-ms <n>', 'fail with exit 4 when no answer within this many ms', intOption(1), 5000)
    .option(
      '--certs-dir <dir>',
      'TLS 1.3 with the CA and client certificate `placestore certs` wrote there (ca.crt, client.crt, client.key)',
    )
    .option('--user <name>', 'log in as this user (password from $PLACESTORE_PASSWORD, or --password-stdin)')
    .option('--password-stdin', "read the user's password from the first line of standard input")
    .option('--verbose', 'print stack traces on errors');
}

function clientFlags(opts: {
  seeds?: string[];
  timeoutMs: number;
  certsDir?: string;
  user?: string;
  passwordStdin?: boolean;
}): ClientFlags {
  return {
    seeds: resolveSeeds(opts.seeds),
    timeoutMs: opts.timeoutMs,
    certsDir: opts.certsDir,
    user: opts.user,
    passwordStdin: opts.passwordStdin === true,
  };
}

function buildProgram(): Command {
  const program = new Command('placestore')
    .description('A distributed, partitioned, replicated in-memory key-value store.')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.trim().split('\n')[0] + '\n') });

  program
    .command('place')
    .description('run one place (a member process) in the foreground')
    .requiredOption('--listen <host:port>', 'address to listen on', addressOption)
    .option(
      '--advertise <host:port>',
      'the address the other places and clients reach this one at, when not --listen (NAT, containers, 0.0.0.0)',
      addressOption,
    )
    .option(
      '--join <list>',
      'HOST:PORT,... of places to join through, tried in turn; without it, bootstrap a new cluster',
      addressListOption,
    )
    .option('--spare', 'join as a spare: holds no partitions until it replaces a dead place')
    .option(
      '--zone <name>',
      'failure zone; a primary and its backup never share a zone when another zone has a place',
    )
    .option(
      '--partitions <n>',
      "partition count, at most 16384 (Redis Cluster's slots; bootstrap only, joiners use the cluster's)",
      intOption(1, 16_384),
      DEFAULT_TUNING.partitionCount,
    )
    .option(
      '--min-places <n>',
      'active places needed before partitions are assigned (bootstrap only); later non-spare joiners wait as spares',
      intOption(1, 1000),
      DEFAULT_TUNING.minPlaces,
    )
    .option(
      '--failure-timeout-ms <n>',
      'failure detection timeout',
      intOption(10, 600_000),
      DEFAULT_TUNING.failureTimeoutMs,
    )
    .option(
      '--voters <n>',
      'places that vote on leadership and the table: the first n live places by id; a majority of them must be reachable (bootstrap only)',
      intOption(1, 15),
      DEFAULT_TUNING.voters,
    )
    .option(
      '--lost-after-ms <n>',
      'a silent place that holds the last copy of a partition is declared dead (the store invalid) only after this long; shorter silences wait for the heal',
      intOption(100, 3_600_000),
      DEFAULT_TUNING.lostAfterMs,
    )
    .option(
      '--max-key-bytes <n>',
      'largest key accepted',
      intOption(1, 1024 * 1024),
      DEFAULT_LIMITS.maxKeyBytes,
    )
    .option(
      '--max-value-bytes <n>',
      'largest value accepted',
      intOption(1, 8 * 1024 * 1024),
      DEFAULT_LIMITS.maxValueBytes,
    )
    .option(
      '--max-requests-in-flight <n>',
      'client requests held unanswered at once; past it new ones are refused as busy (retried by clients)',
      intOption(1, 10_000_000),
      DEFAULT_TUNING.maxRequestsInFlight,
    )
    .option(
      '--max-outcomes-per-partition <n>',
      "write outcomes (and client sessions) each partition keeps for exactly-once retries; past it the least recently used client's go, and its retries are told their outcome is unknown",
      intOption(16, 10_000_000),
      DEFAULT_TUNING.maxResultsPerPartition,
    )
    .option(
      '--max-copies-in-flight <n>',
      'whole-partition copies this place sends at once (more wait their turn)',
      intOption(1, 1024),
      DEFAULT_TUNING.maxCopiesInFlight,
    )
    .option('--processors <file>', 'ES module whose exported functions are submitToKey processors')
    .option(
      '--certs-dir <dir>',
      'TLS 1.3 on every port, with the certificates `placestore certs` wrote there; places must then show a place certificate of its CA',
    )
    .option(
      '--users-file <file>',
      'let in only the users of this file (placestore users add), each as its role allows; reloaded on SIGHUP',
    )
    .option(
      '--cluster-secret-file <file>',
      "places' connections must prove they know this secret (HMAC challenge): without TLS, what keeps strangers from posing as places",
    )
    .addOption(
      new Option('--client-certs <mode>', 'with --certs-dir: must clients show a certificate of the CA?')
        .choices(['require', 'optional'])
        .default('require'),
    )
    .option(
      '--resp-listen <host:port>',
      'serve Redis clients here (RESP2/3, Redis Cluster redirects): redis-cli -c, ioredis Cluster, redis-benchmark --cluster',
    )
    .option(
      '--http-listen <host:port>',
      'serve Prometheus metrics (/metrics), status, events, health checks and a live dashboard (/) over HTTP here; loopback is safest',
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .addOption(
      new Option('--exit-with-stdin', 'exit when standard input closes (used by `cluster`)').hideHelp(),
    )
    .action(runPlace);

  program
    .command('cluster')
    .description('run a local cluster of places as child processes, in the foreground')
    .option('--places <n>', 'active places', intOption(1, 64), 3)
    .option('--spares <n>', 'spare places', intOption(0, 64), 1)
    .option('--host <host>', 'host to listen on', '127.0.0.1')
    .option('--port <n>', 'first port; places use port, port+1, ...', intOption(1, 65_535), 7400)
    .option('--zones <list>', 'zones, assigned round-robin to the places', nameListOption)
    .option('--partitions <n>', 'partition count, at most 16384', intOption(1, 16_384))
    .option('--failure-timeout-ms <n>', 'failure detection timeout', intOption(10, 600_000))
    .option('--voters <n>', 'voting places (default 3; with 2 places, both)', intOption(1, 15))
    .option('--lost-after-ms <n>', 'see place --lost-after-ms', intOption(100, 3_600_000))
    .option('--processors <file>', 'ES module whose exported functions are submitToKey processors')
    .option('--respawn', 'restart each place that dies as a new spare, so the cluster heals itself')
    .option(
      '--http-port <n>',
      'first HTTP port: place i serves metrics and the dashboard at host:n+i (spares included)',
      intOption(1, 65_535),
    )
    .option(
      '--resp-port <n>',
      'first RESP (Redis protocol) port: place i serves Redis clients at host:n+i (spares included)',
      intOption(1, 65_535),
    )
    .option('--certs-dir <dir>', 'TLS 1.3 on every port of every place (see place --certs-dir)')
    .option(
      '--users-file <file>',
      'every place lets in only these users (see place --users-file); needs --user, an admin, with $PLACESTORE_PASSWORD',
    )
    .option('--user <name>', 'with --users-file: the admin this command watches the cluster as')
    .action(runCluster);

  const users = program
    .command('users')
    .description('manage the users a cluster lets in (place --users-file)');
  users
    .command('add')
    .description('add a user to a users file (only a scrypt hash of the password is stored)')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'what the user may do').choices([...ROLES]).makeOptionMandatory())
    .requiredOption('--file <file>', 'the users file (created if missing, readable by its owner only)')
    .option(
      '--password-stdin',
      'read the password from the first line of standard input (else $PLACESTORE_PASSWORD)',
    )
    .option('--force', 'replace a user of that name')
    .action(async (name: string, opts) => {
      const password =
        opts.passwordStdin === true ? await readPasswordLine() : process.env.PLACESTORE_PASSWORD;
      if (password === undefined || password === '')
        throw new CliError(
          EXIT.usage,
          'users add: no password: pipe it with --password-stdin or set PLACESTORE_PASSWORD',
        );
      try {
        await addUser(opts.file, name, opts.role as Role, password, opts.force === true);
      } catch (err) {
        throw new CliError(EXIT.usage, `users add: ${(err as Error).message}`);
      }
      process.stderr.write(
        `added ${name} (${opts.role}) to ${opts.file}; places load it with --users-file, again on SIGHUP\n`,
      );
    });

  program
    .command('certs')
    .description(
      'write a CA, a place certificate for the given hosts and a client certificate (for --certs-dir)',
    )
    .requiredOption(
      '--dir <dir>',
      'where to write ca.crt, ca.key, place.crt, place.key, client.crt, client.key',
    )
    .requiredOption(
      '--hosts <list>',
      'host names and IP addresses the places are reached at, comma-separated (the place certificate is valid for these only)',
      (v: string) =>
        v
          .split(',')
          .map((h) => h.trim())
          .filter((h) => h.length > 0),
    )
    .option('--days <n>', 'validity', intOption(1, 36_500), 825)
    .option('--force', 'replace certificates already in --dir')
    .action((opts) => {
      let files: string[];
      try {
        files = writeCertificates({
          dir: opts.dir,
          hosts: opts.hosts,
          days: opts.days,
          force: opts.force === true,
        });
      } catch (err) {
        throw new CliError(EXIT.usage, `certs: ${(err as Error).message}`);
      }
      process.stdout.write(`${files.join('\n')}\n`);
      process.stderr.write(
        `keep ca.key offline; give places ca.crt, place.crt and place.key, clients ca.crt, client.crt and client.key\n`,
      );
    });

  clientOptions(
    program
      .command('put')
      .description('store VALUE under KEY')
      .argument('<key>')
      .argument('[value]', 'the value (a string); omit with --stdin')
      .option('--stdin', 'read the value from standard input instead'),
  ).action(async (key: string, value: string | undefined, opts) => {
    if ((value === undefined) === (opts.stdin !== true)) {
      throw new CliError(EXIT.usage, 'put takes KEY VALUE, or KEY with --stdin');
    }
    if (opts.stdin === true && opts.passwordStdin === true)
      throw new CliError(
        EXIT.usage,
        'put --stdin and --password-stdin both read standard input: use PLACESTORE_PASSWORD',
      );
    const v = value ?? (await readStdin());
    await withClient(clientFlags(opts), (c) => c.put(key, v));
  });

  clientOptions(
    program.command('get').description('print the value of KEY (exit 1 when absent)').argument('<key>'),
  ).action(async (key: string, opts) => {
    const v = await withClient(clientFlags(opts), (c) => c.get(key));
    if (v === undefined) throw new CliError(EXIT.no, `key '${key}' is absent`);
    process.stdout.write(formatValue(v) + '\n');
  });

  clientOptions(
    program
      .command('cas')
      .description('set KEY to NEW only if it holds EXPECTED; prints true (exit 0) or false (exit 1)')
      .argument('<key>')
      .argument('[expected]', 'the value KEY must hold (omit with --absent)')
      .argument('[new]')
      .option('--absent', 'instead of EXPECTED: only if KEY is absent'),
  ).action(async (key: string, a: string | undefined, b: string | undefined, opts) => {
    let expected: string | undefined;
    let next: string | undefined;
    if (opts.absent === true) {
      if (a === undefined || b !== undefined) throw new CliError(EXIT.usage, 'cas --absent takes KEY NEW');
      next = a;
    } else {
      if (a === undefined || b === undefined)
        throw new CliError(EXIT.usage, 'cas takes KEY EXPECTED NEW (or KEY NEW with --absent)');
      expected = a;
      next = b;
    }
    const ok = await withClient(clientFlags(opts), (c) => c.compareAndSwap(key, expected, next));
    process.stdout.write(`${ok}\n`);
    if (!ok) process.exitCode = EXIT.no;
  });

  clientOptions(program.command('del').description('delete KEY').argument('<key>')).action(
    async (key: string, opts) => {
      await withClient(clientFlags(opts), (c) => c.delete(key));
    },
  );

  clientOptions(
    program
      .command('submit')
      .description(
        "run the named processor at KEY's primary and print its result (ARG is JSON when it parses)",
      )
      .argument('<key>')
      .argument('<processor>')
      .argument('[arg]'),
  ).action(async (key: string, processor: string, arg: string | undefined, opts) => {
    const r = await withClient(clientFlags(opts), (c) =>
      c.submitToKey(key, processor, arg === undefined ? undefined : parseArg(arg)),
    );
    process.stdout.write(formatValue(r ?? null) + '\n');
  });

  clientOptions(program.command('status').description('show the cluster, its places and partitions'))
    .option('--json', 'print one JSON object (with --watch: one per line)')
    .option('--watch', 'refresh until Ctrl-C, redrawn in place as top does')
    .option('--interval-ms <n>', 'with --watch: time between refreshes', intOption(100, 3_600_000), 1000)
    .option('--count <n>', 'with --watch: stop after this many refreshes', intOption(1))
    .action(async (opts) => {
      if (opts.watch === true) {
        await watchStatus(clientFlags(opts), {
          json: opts.json === true,
          intervalMs: opts.intervalMs,
          count: opts.count,
        });
        return;
      }
      const s = await withClient(clientFlags(opts), (c) => c.status());
      process.stdout.write((opts.json === true ? JSON.stringify(s) : formatStatus(s)) + '\n');
      if (!s.valid) process.exitCode = EXIT.invalid;
    });

  clientOptions(
    program
      .command('events')
      .description(
        'print the events every place kept (deaths, takeovers, tables, promotions, copies, leases), merged by time',
      ),
  )
    .option('--follow', 'keep printing new events until Ctrl-C')
    .option('--json', 'print each event as one JSON line')
    .option('--interval-ms <n>', 'with --follow: time between polls', intOption(100, 3_600_000), 500)
    .action(async (opts) => {
      await showEvents(clientFlags(opts), {
        follow: opts.follow === true,
        json: opts.json === true,
        intervalMs: opts.intervalMs,
      });
    });

  program
    .command('check')
    .description(
      'run a local cluster under faults, record a history, and judge it (linearizable? writes lost?)',
    )
    .option('--duration <s>', 'seconds of workload', numberOption(5, 86_400), 60)
    .option('--places <n>', 'active places', intOption(2, 16), 3)
    .option('--spares <n>', 'spare places (killed places are respawned as spares)', intOption(0, 16), 1)
    .option('--clients <n>', 'concurrent clients', intOption(1, 256), 5)
    .option('--keys <n>', 'keys the workload uses', intOption(1, 1000), 5)
    .option(
      '--nemesis <list>',
      `faults to inject, one at a time: ${FAULT_KINDS.join(',')} (partition-* put every place in a network namespace of its own and cut links with nftables: root only)`,
      nameListOption,
      ['kill', 'pause'],
    )
    .option('--interval <s>', 'seconds between one repair and the next fault', numberOption(0, 3600), 5)
    .option('--seed <n>', 'seed of the workload and fault schedule (default: random, printed)', intOption(0))
    .option('--history <file>', 'where to write the history (report.html goes next to it)')
    .option('--port <n>', 'first port of its cluster', intOption(1, 65_535), 7900)
    .option('--op-timeout-ms <n>', 'per-operation timeout of the workload', intOption(10), 5000)
    .option('--check-time-limit-s <n>', 'time limit of the linearizability search', intOption(1), 120)
    .option('--rate <n>', 'operations per second across all clients', intOption(1, 1_000_000), 300)
    .option('--tls', "TLS 1.3 between places and to clients, with certificates made for the places' hosts")
    .option('--json', 'print the result as one JSON line')
    .option('--verbose', 'print stack traces on errors')
    .action(runCheckCommand);

  program
    .command('bench')
    .description('measure throughput and latency (starts its own 3-place cluster without --seeds)')
    .option('--seeds <list>', 'HOST:PORT,... of a running cluster', addressListOption)
    .addOption(new Option('--op <op>', 'operation').choices(['put', 'get', 'mixed', 'cas']).default('put'))
    .option('--clients <n>', 'requests in flight', intOption(1, 100_000), 64)
    .option('--keys <n>', 'distinct keys', intOption(1, 100_000_000), 10_000)
    .option('--value-bytes <n>', 'value size', intOption(0, 16 * 1024 * 1024), 100)
    .option('--seconds <s>', 'measured duration', numberOption(0.1, 86_400), 10)
    .option('--warmup <s>', 'unmeasured warmup', numberOption(0, 3600), 2)
    .option('--port <n>', 'first port of the cluster it starts without --seeds', intOption(1, 65_535), 7500)
    .option('--timeout-ms <n>', 'per-request timeout', intOption(1), 10_000)
    .option(
      '--certs-dir <dir>',
      'TLS 1.3 (files of placestore certs): to the --seeds cluster, or on the cluster it starts',
    )
    .option('--user <name>', 'log in as this user (password from $PLACESTORE_PASSWORD)')
    .option('--json', 'print the result as one JSON line')
    .option('--verbose', 'print stack traces on errors')
    .action(async (opts) => {
      let cluster: LocalCluster | undefined;
      const progress = (line: string) => process.stderr.write(line + '\n');
      try {
        let seeds: string[] = opts.seeds;
        if (seeds === undefined) {
          progress(`bench: starting a local 3-place cluster on port ${opts.port}`);
          cluster = await LocalCluster.start({
            places: 3,
            spares: 0,
            port: opts.port,
            certsDir: opts.certsDir,
          });
          seeds = cluster.seeds;
        }
        const flags = { seeds, timeoutMs: opts.timeoutMs, certsDir: opts.certsDir, user: opts.user };
        const result = await withClient(flags, (c) =>
          runBench(c, {
            op: opts.op as BenchOp,
            clients: opts.clients,
            keys: opts.keys,
            valueBytes: opts.valueBytes,
            seconds: opts.seconds,
            warmup: opts.warmup,
            onProgress: progress,
          }),
        );
        if (opts.json === true) {
          process.stdout.write(JSON.stringify(result) + '\n');
        } else {
          process.stdout.write(
            `${result.op} clients=${result.clients}: ${result.ops_per_sec} ops/s, p50 ${result.p50_us} us, ` +
              `p99 ${result.p99_us} us, p99.9 ${result.p999_us} us, max ${result.max_us} us, ${result.errors} errors\n`,
          );
        }
      } finally {
        await cluster?.stop();
      }
    });

  return program;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (raw) {
    const err = toCliError(raw);
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) {
        process.exitCode = 0;
        return;
      }
      process.exitCode = EXIT.usage;
      return;
    }
    if (err instanceof CliError) {
      if (err.exitCode !== EXIT.no || err.message !== '')
        process.stderr.write(`placestore: ${err.message}\n`);
      process.exitCode = err.exitCode;
      if (verbose) process.stderr.write(`${err.stack}\n`);
      return;
    }
    process.stderr.write(`placestore: ${(err as Error).message ?? String(err)}\n`);
    if (verbose) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = EXIT.usage;
  }
}

verbose ||= process.env.PLACESTORE_VERBOSE === '1';
await main();
