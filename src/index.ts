export { type BenchOptions, type BenchResult, runBench } from './bench/Bench.js';
export { type ConnectOptions, connect } from './client/connect.js';
export {
  AuthError,
  PlacestoreError,
  RequestError,
  StoreInvalidError,
  UnavailableError,
} from './client/errors.js';
export { type ClientOptions, StoreClient } from './client/StoreClient.js';
export {
  isRepaired,
  LocalCluster,
  type LocalClusterOptions,
  type LocalPlace,
} from './cluster/LocalCluster.js';
export type { Processor, ProcessorOutcome } from './protocol/requests/processors.js';
export type { ClusterStatus } from './protocol/wire/messages.js';
