#!/usr/bin/env node
import { Command, Option } from 'commander';
import { DEFAULT_SIM, DEFECTS, type SimResult } from '../sim/Simulator.js';
import { intOption, numberOption } from './options.js';
import { runSeed, runSeedsInParallel } from './simSeeds.js';

async function main(): Promise<void> {
  const program = new Command('sim')
    .description(
      'deterministic simulation of whole clusters: seeded delays, crashes, pauses; each seed judged',
    )
    .option('--seeds <n>', 'how many seeds to run', intOption(1), 100)
    .option('--start <s>', 'first seed', intOption(0), 1)
    .option('--seed <s>', 'run this one seed (with --trace, print its full event trace)', intOption(0))
    .option('--places <n>', 'active places (a spare more is started)', intOption(2, 16), DEFAULT_SIM.places)
    .option(
      '--seconds <s>',
      'simulated seconds of workload per seed',
      numberOption(1, 100_000),
      DEFAULT_SIM.seconds,
    )
    .option('--steps <k>', 'simulation steps allowed per seed', intOption(1000), DEFAULT_SIM.maxSteps)
    .addOption(
      new Option('--mode <mode>', 'failure model').choices(['normal', 'catastrophe']).default('normal'),
    )
    .addOption(
      new Option('--defect <defect>', 'wire in a known defect (to see it caught)').choices([...DEFECTS]),
    )
    .option(
      '--jobs <n>',
      'seeds run at once, each on a worker thread (for machines with cores to spare)',
      intOption(1, 256),
      1,
    )
    .option('--trace', 'print the event trace of --seed')
    .option('--json', 'print the summary as one JSON line')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.trim().split('\n')[0] + '\n') });
  try {
    program.parse(process.argv);
  } catch (err) {
    process.exitCode = (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
    return;
  }
  const o = program.opts();
  const base = { places: o.places, seconds: o.seconds, maxSteps: o.steps, mode: o.mode, defect: o.defect };
  const seeds: number[] =
    o.seed !== undefined ? [o.seed] : Array.from({ length: o.seeds }, (_, i) => o.start + i);
  const started = performance.now();
  const failed: number[] = [];
  let faults = 0;
  let ops = 0;
  let simulatedMs = 0;
  let done = 0;
  const unservedMs: number[] = [];
  let lastProgress = started;
  const record = (r: SimResult) => {
    done++;
    faults += r.faults;
    ops += r.ops;
    simulatedMs += r.simulatedMs;
    unservedMs.push(...r.unservedMs);
    if (!r.ok) {
      failed.push(r.seed);
      process.stderr.write(
        `seed ${r.seed} FAILED: ${r.failure}\n  replay: npm run sim -- --seed ${r.seed} --trace${o.mode === 'catastrophe' ? ' --mode catastrophe' : ''}${o.defect ? ` --defect ${o.defect}` : ''}\n`,
      );
    }
    const now = performance.now();
    if (now - lastProgress > 2000) {
      lastProgress = now;
      process.stderr.write(
        `sim: ${done}/${seeds.length} seeds, ${failed.length} failed, ${((now - started) / 1000).toFixed(0)} s\n`,
      );
    }
  };
  const jobs = o.trace === true ? 1 : Math.min(o.jobs, seeds.length);
  if (jobs > 1) await runSeedsInParallel(seeds, base, jobs, record);
  else {
    const trace = o.trace === true ? (line: string) => process.stdout.write(line + '\n') : undefined;
    for (const seed of seeds) record(await runSeed(seed, base, trace));
  }
  failed.sort((x, y) => x - y);
  const summary = {
    seeds: seeds.length,
    failed,
    faults,
    ops,
    simulatedSeconds: Math.round(simulatedMs / 1000),
    wallSeconds: Math.round((performance.now() - started) / 100) / 10,
    // Per partition fault (normal mode): the longest the majority side left a partition unserved.
    partitionsMeasured: unservedMs.length,
    majorityUnservedMs: percentiles(unservedMs),
  };
  if (o.json === true) process.stdout.write(JSON.stringify(summary) + '\n');
  else if (o.trace !== true)
    process.stdout.write(
      `${summary.seeds} seeds, ${failed.length} failed, ${faults} faults, ${ops} ops checked, ${summary.simulatedSeconds} simulated s in ${summary.wallSeconds} s\n`,
    );
  if (failed.length > 0) process.exitCode = 1;
}

/** Median, 99th percentile and maximum of xs (null when empty). */
function percentiles(xs: number[]): { p50: number; p99: number; max: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!))
  await main();
