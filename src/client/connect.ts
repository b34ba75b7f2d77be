import { readCertsDir } from '../security/certificates.js';
import { TcpTransport, type TransportTls } from '../transport/TcpTransport.js';
import type { Tagged } from '../transport/Transport.js';
import { realScheduler } from '../util/Scheduler.js';
import { AuthError } from './errors.js';
import { StoreClient } from './StoreClient.js';

/** Options of connect(). */
export interface ConnectOptions {
  /** Addresses ("host:port") of any places of the cluster; one that answers is enough. */
  seeds: string[];
  /** Milliseconds each call may take before it fails with UnavailableError (default 5000). */
  timeoutMs?: number;
  /**
   * TLS 1.3 to places of a cluster that runs it: the CA and this client's certificate and key (the
   * client certificate may be left out where places take clients without one), or a directory that
   * `placestore certs` wrote (ca.crt, client.crt, client.key).
   */
  tls?: TransportTls | { certsDir: string };
  /** A user of a cluster that has users (`place --users-file`): every connection logs in as it. */
  user?: string;
  password?: string;
}

/** The login every connection starts with, when a user is given. */
export function loginGreeting(options: Pick<ConnectOptions, 'user' | 'password'>): Tagged | undefined {
  if (options.user === undefined) return undefined;
  if (options.password === undefined)
    throw new AuthError('unauthenticated', `no password given for user '${options.user}'`);
  return { t: 'auth', user: options.user, password: options.password };
}

/** The TLS material of connect()'s options, read from disk when given as a directory. */
export function clientTls(tls: ConnectOptions['tls']): TransportTls | undefined {
  if (tls === undefined) return undefined;
  return 'certsDir' in tls ? readCertsDir(tls.certsDir, 'client') : tls;
}

/** Connects to a cluster over TCP and resolves once a partition table has been fetched from a seed. */
export async function connect(options: ConnectOptions): Promise<StoreClient> {
  const client = new StoreClient({
    seeds: options.seeds,
    timeoutMs: options.timeoutMs ?? 5000,
    transport: new TcpTransport({ tls: clientTls(options.tls), greeting: loginGreeting(options) }),
    scheduler: realScheduler,
  });
  try {
    await client.ready();
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}
