import { readCertsDir } from '../security/certificates.js';
import { TcpTransport, type TransportTls } from '../transport/TcpTransport.js';
import { realScheduler } from '../util/Scheduler.js';
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
    transport: new TcpTransport({ tls: clientTls(options.tls) }),
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
