import { parentPort, workerData } from 'node:worker_threads';
import { runSeed, type SeedOptions } from './simSeeds.js';

// One worker thread of a campaign: runs each seed it is sent and posts back what it found.
const options = workerData as SeedOptions;
parentPort!.on('message', async (seed: number) => {
  parentPort!.postMessage(await runSeed(seed, options));
});
