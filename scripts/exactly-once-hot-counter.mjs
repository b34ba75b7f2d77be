// Exactly once under many clients: CLIENTS clients each keep one increment of one hot counter in
// flight; once every client has one acknowledged, the counter's primary is SIGKILLed; SECONDS later the
// clients stop. The final counter must equal the acknowledged increments plus some of those whose
// outcome was reported unknown (UnavailableError with maybeApplied), never more.
// Usage: npm run build && node scripts/exactly-once-hot-counter.mjs [clients=5000] [seconds=10] [outcomesPerPartition=8192, 0: the default]
import { connect, LocalCluster, UnavailableError } from '../dist/index.js';
import { partitionOfKey } from '../dist/protocol/table/keyPartition.js';

const clients = Number(process.argv[2] ?? 5000);
const seconds = Number(process.argv[3] ?? 10);
const outcomes = Number(process.argv[4] ?? 8192);
const port = Number(process.env.PORT ?? 7870);
const key = 'hot-counter';

const cluster = await LocalCluster.start({
  places: 3,
  spares: 1,
  port,
  // outcomesPerPartition 0: the places' default (and a build without the flag).
  placeArgs: [
    ...(outcomes > 0 ? ['--max-outcomes-per-partition', String(outcomes)] : []),
    '--max-requests-in-flight',
    String(clients * 4),
  ],
});
const tally = { acked: 0, unknown: 0, notSent: 0, other: 0, otherErrors: new Map() };
const stores = [];
let stop = false;
try {
  const admin = await connect({ seeds: cluster.seeds, timeoutMs: 30_000 });
  stores.push(admin);
  await admin.put(key, 0);
  for (let i = 0; i < clients; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, clients - i) }, () =>
        connect({ seeds: cluster.seeds, timeoutMs: 30_000 }),
      ),
    );
    stores.push(...batch);
    process.stderr.write(`connected ${stores.length - 1}/${clients} clients\n`);
  }
  const ackedBy = new Array(clients).fill(0);
  const loops = stores.slice(1).map(async (store, i) => {
    for (let n = 0; !stop && n < 1_000_000; n++) {
      try {
        await store.submitToKey(key, 'increment', 1);
        tally.acked++;
        ackedBy[i]++;
      } catch (err) {
        if (err instanceof UnavailableError && err.maybeApplied) tally.unknown++;
        else if (err instanceof UnavailableError) tally.notSent++;
        else {
          tally.other++;
          const why = String(err?.message).slice(0, 80);
          tally.otherErrors.set(why, (tally.otherErrors.get(why) ?? 0) + 1);
        }
      }
    }
  });
  // Every client has a session at the counter's primary and backup before the kill.
  for (let i = 0; i < 6000 && ackedBy.some((n) => n === 0); i++) await new Promise((r) => setTimeout(r, 10));
  const status = await admin.status();
  const partition = status.partitions.find((p) => p.id === partitionOfKey(key, status.partitions.length));
  const victim = status.places.find((p) => p.id === partition.primary);
  const before = { ...tally };
  process.stderr.write(
    `every client acknowledged once (${before.acked} so far); SIGKILL of place ${victim.id}, the counter's primary\n`,
  );
  process.kill(victim.pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(loops);
  const final = await admin.get(key);
  const result = {
    clients,
    outcomesPerPartition: outcomes,
    killedPlace: victim.id,
    ackedBeforeKill: before.acked,
    acked: tally.acked,
    unknown: tally.unknown,
    notSent: tally.notSent,
    otherErrors: Object.fromEntries(tally.otherErrors),
    final,
    ranTwice: Math.max(0, final - tally.acked - tally.unknown),
    ok: final >= tally.acked && final <= tally.acked + tally.unknown,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.ok ? 0 : 1;
} finally {
  stop = true;
  await Promise.all(stores.map((s) => s.close().catch(() => {})));
  await cluster.stop();
}
