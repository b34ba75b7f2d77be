import { TcpTransport } from '../transport/TcpTransport.js';
import { realScheduler } from '../util/Scheduler.js';
import { StoreClient } from './StoreClient.js';

/** Options of connect(). */
export interface ConnectOptions {
  /** Addresses ("host:port") of any places of the cluster; one that answers is enough. */
  seeds: string[];
  /** Milliseconds each call may take before it fails with UnavailableError (default 5000). */
  timeoutMs?: number;
}

/** Connects to a cluster over TCP and resolves once a partition table has been fetched from a seed. */
export async function connect(options: ConnectOptions): Promise<StoreClient> {
  const client = new StoreClient({
    seeds: options.seeds,
    timeoutMs: options.timeoutMs ?? 5000,
    transport: new TcpTransport(),
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
