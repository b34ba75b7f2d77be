import type { StoreClient } from 'placestore';

/** What one writer saw: the highest value acknowledged and the highest attempted, per key. */
export interface WriterState {
  key: string;
  acked: number;
  attempted: number;
  failures: number;
  /** Longest stretch without a successful write, in ms, once the first write succeeded. */
  maxGapMs: number;
}

/**
 * Writes 0, 1, 2, ... to key, one at a time, until stop() or maxWrites (bounded in count and time).
 * Failed writes (unknown outcome) are counted and the next value is written.
 */
export function startWriter(client: StoreClient, key: string, maxWrites = 100_000, maxMs = 60_000) {
  const state: WriterState = { key, acked: -1, attempted: -1, failures: 0, maxGapMs: 0 };
  let stopped = false;
  const started = Date.now();
  const done = (async () => {
    let lastOk = Date.now();
    for (let i = 0; i < maxWrites && !stopped && Date.now() - started < maxMs; i++) {
      state.attempted = i;
      try {
        await client.put(key, i);
        state.acked = i;
        const now = Date.now();
        state.maxGapMs = Math.max(state.maxGapMs, now - lastOk);
        lastOk = now;
      } catch {
        state.failures++;
      }
    }
  })();
  return {
    state,
    stop: async () => {
      stopped = true;
      await done;
      return state;
    },
  };
}

/** Checks that each key holds a value at least its last acknowledged one and at most its last attempted one. */
export async function checkNoLostWrites(client: StoreClient, states: WriterState[]): Promise<string[]> {
  const problems: string[] = [];
  for (const s of states) {
    const v = (await client.get(s.key)) as number | undefined;
    if (v === undefined || v < s.acked || v > s.attempted) {
      problems.push(`${s.key}: holds ${v}, but ${s.acked} was acknowledged (attempted up to ${s.attempted})`);
    }
  }
  return problems;
}
