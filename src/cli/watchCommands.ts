import { clientTls, loginGreeting } from '../client/connect.js';
import { EventReader } from '../client/EventReader.js';
import { AuthError } from '../client/errors.js';
import type { StoreClient } from '../client/StoreClient.js';
import type { StampedEvent } from '../runtime/EventRing.js';
import { type ClientFlags, credentials, formatStatus, withClient } from './clientCommands.js';

/** Flags of `status --watch`. */
export interface WatchFlags {
  json: boolean;
  intervalMs: number;
  /** Stop after this many refreshes (default: until Ctrl-C). */
  count?: number;
}

/** Resolves after ms, or at once when stop() was called meanwhile. */
function pause(ms: number, stopped: { now: boolean; wake?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    stopped.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

/** Resolves on SIGINT or SIGTERM: long-running views stop cleanly (exit 0) rather than die. */
function stopSignal(): { now: boolean; wake?: () => void; dispose: () => void } {
  const s: { now: boolean; wake?: () => void; dispose: () => void } = {
    now: false,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.off('error', onOutputError);
    },
  };
  const onSignal = () => {
    s.now = true;
    s.wake?.();
  };
  // A reader that went away (`| head`) ends the view, quietly.
  const onOutputError = () => {
    s.now = true;
    s.wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', onOutputError);
  return s;
}

/** `status --watch`: the status again every interval, redrawn in place on a terminal (as top does). */
export async function watchStatus(client: ClientFlags, flags: WatchFlags): Promise<void> {
  const tty = process.stdout.isTTY === true && !flags.json;
  const stop = stopSignal();
  try {
    await withClient(client, async (c) => {
      for (let n = 0; !stop.now && (flags.count === undefined || n < flags.count); n++) {
        if (n > 0) await pause(flags.intervalMs, stop);
        if (stop.now) break;
        process.stdout.write(await statusFrame(c, flags.json, tty));
      }
    });
  } finally {
    stop.dispose();
  }
}

async function statusFrame(c: StoreClient, json: boolean, tty: boolean): Promise<string> {
  const at = new Date().toISOString().slice(0, 19).replace('T', ' ');
  let body: string;
  try {
    const s = await c.status();
    body = json ? JSON.stringify(s) : formatStatus(s);
  } catch (err) {
    body = json ? JSON.stringify({ error: (err as Error).message }) : `no answer: ${(err as Error).message}`;
  }
  if (json) return `${body}\n`;
  // Home and clear: the frame replaces the last one, as top's does.
  return tty ? `\x1b[H\x1b[2J${at}  (Ctrl-C to stop)\n${body}\n` : `--- ${at}\n${body}\n`;
}

/** Flags of `placestore events`. */
export interface EventsFlags {
  follow: boolean;
  json: boolean;
  intervalMs: number;
}

/**
 * `placestore events`: every place's kept events, merged by time; with --follow, new ones as they come
 * (places that join are found from the status, a restarted place is read from its start again).
 */
export async function showEvents(client: ClientFlags, flags: EventsFlags): Promise<void> {
  const login = await credentials(client);
  const reader = new EventReader(
    client.timeoutMs,
    clientTls(client.certsDir === undefined ? undefined : { certsDir: client.certsDir }),
    login === null ? undefined : loginGreeting(login),
  );
  const cursors = new Map<string, number>();
  const boots = new Map<string, string>();
  const stop = stopSignal();
  try {
    await withClient(client, async (c) => {
      for (let round = 0; !stop.now; round++) {
        if (round > 0) await pause(flags.intervalMs, stop);
        if (stop.now) break;
        let places: string[];
        try {
          places = (await c.status()).places.filter((p) => p.state !== 'dead').map((p) => p.address);
        } catch (err) {
          if (!flags.follow) throw err;
          places = [...cursors.keys()];
        }
        const fresh: StampedEvent[] = [];
        await Promise.all(
          places.map(async (address) => {
            // Bounded: a place keeps at most its ring's worth, read 500 at a time.
            for (let batch = 0; batch < 20; batch++) {
              const since = cursors.get(address) ?? 1;
              let got: Awaited<ReturnType<EventReader['read']>>;
              try {
                got = await reader.read(address, since);
              } catch (err) {
                if (err instanceof AuthError) throw err;
                return; // down or slow: read again next round
              }
              const known = boots.get(address);
              boots.set(address, got.boot);
              if (known !== undefined && known !== got.boot && since > 1) {
                // Another process at that address: its events are numbered from 1 again.
                cursors.set(address, 1);
                continue;
              }
              cursors.set(address, got.next);
              fresh.push(...got.events);
              if (got.events.length === 0) return;
            }
          }),
        );
        fresh.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.seq - b.seq));
        for (const e of fresh) process.stdout.write(`${flags.json ? JSON.stringify(e) : formatEvent(e)}\n`);
        if (!flags.follow) break;
      }
    });
  } finally {
    stop.dispose();
    await reader.close();
  }
}

/** One event as a line for a person: time, the place that reported it, its kind and what it says. */
export function formatEvent(e: StampedEvent): string {
  return `${e.time.slice(0, 23).replace('T', ' ')}  place ${String(e.place ?? '?').padEnd(3)} ${e.event.padEnd(16)} ${e.msg}`;
}
