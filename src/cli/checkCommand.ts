import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_KINDS, type FaultKind } from '../check/Nemesis.js';
import { runCheck } from '../check/runCheck.js';
import { NetnsHosts } from '../cluster/NetnsHosts.js';
import { CliError, EXIT } from './options.js';

/** Flags of `placestore check`. */
export interface CheckFlags {
  duration: number;
  places: number;
  spares: number;
  clients: number;
  keys: number;
  nemesis: string[];
  interval: number;
  seed?: number;
  history?: string;
  port: number;
  opTimeoutMs: number;
  checkTimeLimitS: number;
  rate: number;
  json?: boolean;
  tls?: boolean;
}

/** Runs a check, prints its verdicts (and the JSON line with --json), and sets the exit code. */
export async function runCheckCommand(flags: CheckFlags): Promise<void> {
  for (const k of flags.nemesis) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new CliError(EXIT.usage, `--nemesis: unknown fault '${k}' (known: ${FAULT_KINDS.join(', ')})`);
    }
  }
  const cuts = flags.nemesis.filter((k) => k.startsWith('partition-'));
  const why = cuts.length > 0 ? NetnsHosts.unavailable() : null;
  if (why !== null)
    throw new CliError(
      EXIT.usage,
      `--nemesis ${cuts.join(',')}: places must run on namespaced hosts, but ${why}`,
    );
  const seed = flags.seed ?? Math.floor(Math.random() * 1_000_000);
  const history = flags.history ?? join(tmpdir(), `placestore-check-${Date.now()}`, 'history.jsonl');
  const progress = (line: string) => process.stderr.write(line + '\n');
  progress(`check: seed ${seed} (rerun with --seed ${seed}), history ${history}`);
  const run = await runCheck({
    durationS: flags.duration,
    places: flags.places,
    spares: flags.spares,
    clients: flags.clients,
    keys: flags.keys,
    nemesis: flags.nemesis as FaultKind[],
    intervalS: flags.interval,
    seed,
    historyFile: history,
    port: flags.port,
    opTimeoutMs: flags.opTimeoutMs,
    checkTimeLimitMs: flags.checkTimeLimitS * 1000,
    rate: flags.rate,
    tls: flags.tls === true,
    onProgress: progress,
  });
  const s = run.summary;
  for (const k of run.check.keys) {
    const v = k.violation;
    if (v === undefined) continue;
    progress(
      `key ${k.key}: not linearizable. After ${v.linearizedPrefix} operations, the register held ${v.statesBefore.join(' or ')}; this fits none:`,
    );
    for (const o of v.window) {
      const mark = o === v.blocked ? '>>' : '  ';
      const value = o.f === 'read' ? JSON.stringify(o.output) : JSON.stringify(o.input);
      const end = Number.isFinite(o.completeTime) ? (o.completeTime / 1e6).toFixed(3) : 'never';
      progress(
        `  ${mark} process ${o.process} ${o.f} ${value} ${o.type} [${(o.invokeTime / 1e6).toFixed(3)} ms .. ${end} ms]`,
      );
    }
  }
  for (const l of run.lost.slice(0, 20)) {
    progress(
      `lost: ${l.op.f} of ${JSON.stringify(l.op.input)} to ${l.key} was acknowledged, but the key ends as ${JSON.stringify(l.finalValue)}`,
    );
  }
  for (const e of run.faultErrors) progress(`problem: ${e}`);
  progress(
    `check: ${s.ops} ops (${s.ok} ok, ${s.fail} fail, ${s.info} info), ${s.faults} faults, linearizable: ${s.linearizable}, ` +
      `lost writes: ${s.lostWrites}, max unavailable ${s.maxUnavailableMs} ms; report ${s.report}`,
  );
  process.stdout.write(
    (flags.json === true
      ? JSON.stringify(s)
      : `linearizable: ${s.linearizable}, lost writes: ${s.lostWrites}`) + '\n',
  );
  if (s.linearizable !== true || s.lostWrites > 0 || run.faultErrors.length > 0) process.exitCode = EXIT.no;
}
