import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StoreClient } from '../client/StoreClient.js';
import { LocalCluster } from '../cluster/LocalCluster.js';
import { NetnsHosts } from '../cluster/NetnsHosts.js';
import { writeCertificates } from '../security/certificates.js';
import { seededRandom } from '../util/random.js';
import { HistoryRecorder, type Operation, pairOperations } from './history.js';
import {
  type CheckResult,
  checkHistory,
  findLostWrites,
  type LostWrite,
  type Verdict,
} from './linearizability.js';
import { type FaultKind, isPartition, Nemesis, sleep } from './Nemesis.js';
import { renderReport } from './report.js';
import { Workload } from './Workload.js';

/** Options of a check run (the flags of `placestore check`). */
export interface CheckOptions {
  durationS: number;
  places: number;
  spares: number;
  clients: number;
  keys: number;
  nemesis: FaultKind[];
  /** Seconds between the repair of one fault and the next fault. */
  intervalS: number;
  seed: number;
  historyFile: string;
  port: number;
  /** Per-operation timeout of the workload's clients. */
  opTimeoutMs: number;
  /** Time limit of the linearizability search. */
  checkTimeLimitMs: number;
  /** Operations per second the workload aims for, across all clients. */
  rate: number;
  /** Extra flags for every place, and the script that runs them (tests wire broken stores through it). */
  placeArgs?: string[];
  cliPath?: string;
  /** TLS 1.3 everywhere: certificates for the places' hosts are made next to the history. */
  tls?: boolean;
  onProgress?: (line: string) => void;
}

/** The result line of `placestore check --json` (docs/contract.md), plus the report's path. */
export interface CheckSummary {
  ops: number;
  ok: number;
  fail: number;
  info: number;
  faults: number;
  linearizable: Verdict;
  lostWrites: number;
  maxUnavailableMs: number;
  /** Per partition fault, in order: the majority side's longest stretch without a completed write (ms). */
  majorityUnavailableMs: number[];
  history: string;
  report: string;
}

/** A finished check: the summary, the checker's verdicts, the lost writes. */
export interface CheckRun {
  summary: CheckSummary;
  check: CheckResult;
  lost: LostWrite[];
  faultErrors: string[];
}

/** Longest stretch (ms) with no operation completing successfully, from the start to the end. */
export function maxUnavailableMs(ops: readonly Operation[], durationNs: number): number {
  const done = ops
    .filter((o) => o.type !== 'info')
    .map((o) => o.completeTime)
    .sort((a, b) => a - b);
  let prev = 0;
  let max = 0;
  for (const t of done) {
    max = Math.max(max, t - prev);
    prev = t;
  }
  max = Math.max(max, durationNs - prev);
  return Math.round(max / 1e6);
}

/**
 * Runs a whole check: its own local cluster, the workload, faults one at a time with repair between,
 * a final read of every key, the history file, the verdicts and the HTML report next to the history.
 */
export async function runCheck(o: CheckOptions): Promise<CheckRun> {
  const progress = o.onProgress ?? (() => {});
  const random = seededRandom(o.seed);
  const recorder = new HistoryRecorder();
  const durationNs = o.durationS * 1e9;
  const expectedPlaces = o.places + o.spares;
  // Partition faults cut links between hosts: every place gets a network namespace of its own.
  let hosts: NetnsHosts | undefined;
  if (o.nemesis.some(isPartition)) {
    const why = NetnsHosts.unavailable();
    if (why !== null) throw new Error(`partition faults need places on namespaced hosts: ${why}`);
    hosts = await NetnsHosts.create(expectedPlaces, `c${process.pid % 10_000}`);
    // Interrupted, it still removes the namespaces it made (its places exit with their stdin).
    const made = hosts;
    const cleanUp = () => {
      void made.destroy().finally(() => process.exit(130));
    };
    process.once('SIGINT', cleanUp);
    process.once('SIGTERM', cleanUp);
    progress(
      `check: ${expectedPlaces} hosts in network namespaces ${hosts.hosts[0]!.ns}.., ${hosts.hosts[0]!.ip} upward`,
    );
  } else progress(`check: starting ${o.places} places + ${o.spares} spares on 127.0.0.1:${o.port}..`);
  let certsDir: string | undefined;
  if (o.tls === true) {
    certsDir = join(dirname(o.historyFile), 'certs');
    const names = hosts === undefined ? ['127.0.0.1', 'localhost'] : hosts.hosts.map((h) => h.ip);
    writeCertificates({ dir: certsDir, hosts: names, days: 2, force: true });
    progress(`check: TLS 1.3 with certificates in ${certsDir}`);
  }
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      certsDir,
      places: o.places,
      spares: o.spares,
      port: o.port,
      respawn: true,
      placeArgs: o.placeArgs,
      cliPath: o.cliPath,
      netns: hosts,
    });
  } catch (err) {
    await hosts?.destroy();
    throw err;
  }
  const clients: StoreClient[] = [];
  const faultErrors: string[] = [];
  let final: Record<string, unknown> = {};
  const workload = new Workload(
    {
      clients: o.clients,
      keys: o.keys,
      seed: o.seed,
      untilNs: durationNs,
      maxOpsPerClient: 10_000_000,
      ratePerSecond: o.rate,
    },
    recorder,
  );
  const nemesis = new Nemesis(cluster, o.nemesis, random, () => recorder.now(), expectedPlaces, hosts);
  try {
    for (let i = 0; i < o.clients; i++) clients.push(await cluster.connectTo(cluster.seeds, o.opTimeoutMs));
    const ticker = setInterval(() => {
      const s = workload.stats;
      progress(
        `check: ${(recorder.now() / 1e9).toFixed(0)}/${o.durationS} s, ${s.ops} ops (${s.ok} ok, ${s.fail} fail, ${s.info} info), ${nemesis.faults.length} faults`,
      );
    }, 2000);
    const running = workload.run(clients);
    const faulting = (async () => {
      if (o.nemesis.length === 0) return;
      // Leave time at the end for the last repair to be observed under load.
      const lastStartNs = durationNs - 6e9;
      while (recorder.now() + o.intervalS * 1e9 < lastStartNs) {
        await sleep(o.intervalS * 1000);
        try {
          const f = await nemesis.injectOne(30_000);
          progress(
            f.cut === undefined
              ? `check: ${f.kind} of place ${f.placeId} repaired after ${((f.endNs - f.startNs) / 1e6).toFixed(0)} ms`
              : `check: ${f.kind} ${f.cut} for ${((f.healNs! - f.startNs) / 1e6).toFixed(0)} ms; majority side unavailable ${f.majorityUnavailableMs ?? '?'} ms; repaired ${((f.endNs - f.healNs!) / 1e6).toFixed(0)} ms after the heal`,
          );
        } catch (err) {
          faultErrors.push((err as Error).message);
          progress(`check: ${(err as Error).message}; no more faults`);
          return;
        }
      }
    })();
    await faulting;
    await running;
    clearInterval(ticker);
    progress('check: workload done; reading every key');
    await nemesis.waitRepaired(null, 30_000).catch((err: Error) => faultErrors.push(err.message));
    final = await finalRead(cluster, workload.keys, o.opTimeoutMs);
  } finally {
    workload.stop();
    for (const c of clients) await c.close();
    await cluster.stop();
    await hosts?.healAll().catch(() => {});
    await hosts?.destroy();
  }
  mkdirSync(dirname(o.historyFile), { recursive: true });
  writeFileSync(o.historyFile, recorder.toJsonLines(final));
  progress(`check: judging ${recorder.events.length} events`);
  const operations = pairOperations(recorder.events);
  const check = checkHistory(operations, final, o.checkTimeLimitMs);
  const lost = findLostWrites(operations, final);
  const report = join(dirname(o.historyFile), 'report.html');
  const s = workload.stats;
  const summary: CheckSummary = {
    ops: s.ops,
    ok: s.ok,
    fail: s.fail,
    info: s.info,
    faults: nemesis.faults.length,
    linearizable: check.verdict,
    lostWrites: lost.length,
    maxUnavailableMs: maxUnavailableMs(operations, durationNs),
    majorityUnavailableMs: nemesis.faults.flatMap((f) =>
      f.majorityUnavailableMs === undefined ? [] : [f.majorityUnavailableMs],
    ),
    history: o.historyFile,
    report,
  };
  writeFileSync(
    report,
    renderReport({
      title: `placestore check, seed ${o.seed}`,
      operations,
      faults: nemesis.faults,
      check,
      lost,
      summary: { ...summary, ...(faultErrors.length > 0 ? { problems: faultErrors.join('; ') } : {}) },
      durationNs: Math.max(durationNs, recorder.now()),
    }),
  );
  return { summary, check, lost, faultErrors };
}

/** Reads every key once the cluster is quiet, retrying each until it answers (bounded). */
async function finalRead(
  cluster: LocalCluster,
  keys: string[],
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const client = await cluster.connectTo(cluster.seeds, timeoutMs);
  try {
    const values: Record<string, unknown> = {};
    for (const key of keys) {
      let lastError: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          values[key] = (await client.get(key)) ?? null;
          lastError = undefined;
          break;
        } catch (err) {
          lastError = err;
        }
      }
      if (lastError !== undefined)
        throw new Error(`final read of ${key} failed: ${(lastError as Error).message}`);
    }
    return values;
  } finally {
    await client.close();
  }
}
