import { connect } from '../client/connect.js';
import { AuthError, PlacestoreError, StoreInvalidError, UnavailableError } from '../client/errors.js';
import type { StoreClient } from '../client/StoreClient.js';
import type { ClusterStatus } from '../protocol/wire/messages.js';
import { CliError, EXIT } from './options.js';

/** Flags every client command takes. */
export interface ClientFlags {
  seeds: string[];
  timeoutMs: number;
  /** TLS: a directory `placestore certs` wrote. */
  certsDir?: string;
  /** Log in as this user; the password comes from PLACESTORE_PASSWORD, or standard input. */
  user?: string;
  passwordStdin?: boolean;
}

/** Reads the first line of standard input (a password piped in), without its line end. */
export async function readPasswordLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** The user and password of a client command (null without --user). */
export async function credentials(flags: ClientFlags): Promise<{ user: string; password: string } | null> {
  if (flags.user === undefined) {
    if (flags.passwordStdin === true) throw new CliError(EXIT.usage, '--password-stdin needs --user');
    return null;
  }
  const password = flags.passwordStdin === true ? await readPasswordLine() : process.env.PLACESTORE_PASSWORD;
  if (password === undefined || password === '')
    throw new CliError(
      EXIT.auth,
      `no password for user '${flags.user}': set PLACESTORE_PASSWORD or pipe it with --password-stdin`,
    );
  return { user: flags.user, password };
}

/** Maps a store error onto the CLI's exit codes. */
export function toCliError(err: unknown): unknown {
  if (err instanceof AuthError) return new CliError(EXIT.auth, err.message);
  if (err instanceof StoreInvalidError) return new CliError(EXIT.invalid, err.message);
  if (err instanceof UnavailableError) return new CliError(EXIT.unavailable, err.message);
  if (err instanceof PlacestoreError) return new CliError(EXIT.usage, err.message);
  return err;
}

/** Connects, runs fn, closes; store errors become CLI errors. */
export async function withClient<T>(flags: ClientFlags, fn: (c: StoreClient) => Promise<T>): Promise<T> {
  let client: StoreClient | undefined;
  try {
    const login = await credentials(flags);
    client = await connect({
      seeds: flags.seeds,
      timeoutMs: flags.timeoutMs,
      tls: flags.certsDir === undefined ? undefined : { certsDir: flags.certsDir },
      user: login?.user,
      password: login?.password,
    });
    return await fn(client);
  } catch (err) {
    throw toCliError(err);
  } finally {
    await client?.close();
  }
}

/** Prints a value read from the store: strings as they are, anything else as JSON. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(v);
}

/** Parses a processor argument: JSON when it parses, else the string itself. */
export function parseArg(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Renders status for a person: one line for the cluster, a table of places, partition states. */
export function formatStatus(s: ClusterStatus): string {
  const lines: string[] = [];
  const states = new Map<string, number>();
  for (const p of s.partitions) states.set(p.state, (states.get(p.state) ?? 0) + 1);
  const stateText = [...states].map(([k, n]) => `${n} ${k}`).join(', ') || 'none assigned yet';
  lines.push(
    `store ${s.valid ? 'valid' : `INVALID: ${s.invalidReason}`}; table v${s.tableVersion}; ` +
      `${s.formed ? 'formed' : `forming (${s.places.filter((p) => p.state === 'active').length} of ${s.minPlaces} places)`}; ` +
      `partitions: ${stateText}`,
  );
  lines.push('');
  lines.push(
    '  id  address                 pid      role     zone      state   primaries  backups  loop block',
  );
  for (const p of s.places) {
    const block = p.loopBlockMs === null || p.loopBlockMs === undefined ? '-' : `${p.loopBlockMs} ms`;
    lines.push(
      `  ${String(p.id).padEnd(3)} ${p.address.padEnd(23)} ${String(p.pid).padEnd(8)} ${p.role.padEnd(8)} ` +
        `${(p.zone ?? '-').padEnd(9)} ${p.state.padEnd(7)} ${String(p.primaries).padStart(9)}  ${String(p.backups).padStart(7)}  ${block.padStart(10)}`,
    );
  }
  const bad = s.partitions.filter((p) => p.state !== 'ok');
  if (bad.length > 0) {
    lines.push('');
    lines.push(
      `  not ok: ${bad
        .slice(0, 20)
        .map((p) => `${p.id}(${p.state})`)
        .join(' ')}${bad.length > 20 ? ' ...' : ''}`,
    );
  }
  return lines.join('\n');
}
