import { randomUUID } from 'node:crypto';
import type { PlaceEvent } from '../protocol/events.js';

/** An event as a place keeps and serves it: numbered, timed and signed by the place. */
export type StampedEvent = PlaceEvent & {
  /** Grows by one per event at this place, from 1. */
  seq: number;
  /** Wall-clock time, ISO 8601. */
  time: string;
  /** The reporting place's id (null before it joined) and address. */
  place: number | null;
  origin: string;
  /** The event in one line of English. */
  msg: string;
};

/** The newest `capacity` events of a place, oldest first; older ones are dropped as new ones come. */
export class EventRing {
  private readonly items: (StampedEvent | undefined)[];
  private nextSeq = 1;
  /** Names this ring (this process): a reader that sees another one starts from 1 again. */
  readonly boot = randomUUID();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event ring capacity ${capacity}`);
    this.items = new Array(capacity);
  }

  /** The number the next event gets. */
  get next(): number {
    return this.nextSeq;
  }

  /** Keeps an event, numbering it; returns it numbered. */
  push(e: Omit<StampedEvent, 'seq'>): StampedEvent {
    const stamped = { ...e, seq: this.nextSeq } as StampedEvent;
    this.items[this.nextSeq % this.capacity] = stamped;
    this.nextSeq++;
    return stamped;
  }

  /**
   * An answer to a reader at `since`: the kept events from there (at most limit), the number to ask
   * for next (never past the next event, so a reader ahead of a restarted ring is not left waiting
   * forever), and this ring's boot.
   */
  read(since: number, limit: number): { boot: string; next: number; events: StampedEvent[] } {
    const events = this.since(since, limit);
    const last = events[events.length - 1];
    const next = last !== undefined ? last.seq + 1 : Math.min(Math.max(since, 1), this.nextSeq);
    return { boot: this.boot, next, events };
  }

  /** The kept events numbered `since` or more, oldest first, at most `limit` of them. */
  since(since: number, limit = this.capacity): StampedEvent[] {
    const first = Math.max(since, this.nextSeq - this.capacity, 1);
    const last = Math.min(this.nextSeq, first + Math.max(0, limit));
    const out: StampedEvent[] = [];
    for (let seq = first; seq < last; seq++) out.push(this.items[seq % this.capacity]!);
    return out;
  }
}
