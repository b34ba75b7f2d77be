import type { StampedEvent } from '../runtime/EventRing.js';
import { TcpTransport, type TransportTls } from '../transport/TcpTransport.js';
import type { Link, Tagged, WireMessage } from '../transport/Transport.js';
import { AuthError, RequestError, UnavailableError } from './errors.js';

/** One place's answer: its kept events from the number asked for on, and the number to ask for next. */
export interface EventBatch {
  events: StampedEvent[];
  next: number;
  /** Names the place's process: numbers start from 1 again in another one. */
  boot: string;
}

/**
 * Reads the events places keep (`placestore events`): asks one place at a time, by address, for its
 * events from a number on. Each place numbers its own; a reader keeps one cursor per place.
 */
export class EventReader {
  private readonly transport: TcpTransport;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { link: Link; resolve: (b: EventBatch) => void; reject: (e: Error) => void }
  >();

  constructor(
    private readonly timeoutMs = 2000,
    tls?: TransportTls,
    greeting?: Tagged,
  ) {
    this.transport = new TcpTransport({ tls, greeting });
    this.transport.onMessage((link, msg) => this.onMessage(link, msg));
    this.transport.onLinkClosed((link) => {
      for (const [id, w] of this.waiting)
        if (w.link === link) {
          this.waiting.delete(id);
          w.reject(new UnavailableError(`the connection to ${link.remote} closed`, false));
        }
    });
  }

  /** The events the place at address keeps, numbered `since` or more (at most 500 per call). */
  read(address: string, since: number): Promise<EventBatch> {
    const id = this.nextId++;
    const link = this.transport.linkTo(address);
    return new Promise<EventBatch>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.waiting.delete(id)) return;
        reject(new UnavailableError(`no answer from ${address} within ${this.timeoutMs} ms`, false));
      }, this.timeoutMs);
      this.waiting.set(id, {
        link,
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      link.send({ t: 'events', tv: 0, id, since });
    });
  }

  /** Closes every connection; reads in flight fail. */
  async close(): Promise<void> {
    for (const w of this.waiting.values()) w.reject(new UnavailableError('the reader was closed', false));
    this.waiting.clear();
    await this.transport.close();
  }

  private onMessage(link: Link, msg: WireMessage): void {
    if (
      msg.t === 'err' &&
      msg.id === undefined &&
      (msg.code === 'unauthenticated' || msg.code === 'unauthorized')
    ) {
      // The connection itself was refused: every read on it fails with why.
      const err = new AuthError(String(msg.code), String(msg.msg));
      for (const [id, w] of this.waiting)
        if (w.link === link) {
          this.waiting.delete(id);
          w.reject(err);
        }
      return;
    }
    const w = typeof msg.id === 'number' ? this.waiting.get(msg.id) : undefined;
    if (w === undefined || w.link !== link) return;
    this.waiting.delete(msg.id as number);
    if (msg.t === 'err') {
      const code = String(msg.code);
      const Err = code === 'unauthenticated' || code === 'unauthorized' ? AuthError : RequestError;
      w.reject(new Err(code, String(msg.msg)));
      return;
    }
    const events = msg.events;
    if (msg.t !== 'eventsReply' || !Array.isArray(events) || typeof msg.next !== 'number') {
      w.reject(new RequestError('bad_reply', `'${String(msg.t)}' is not an answer to an events request`));
      return;
    }
    const ok = events.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof e.event === 'string' &&
        typeof e.seq === 'number' &&
        typeof e.time === 'string' &&
        typeof e.msg === 'string',
    );
    if (!ok) {
      w.reject(new RequestError('bad_reply', 'the events a place sent are malformed'));
      return;
    }
    w.resolve({
      events: events as StampedEvent[],
      next: msg.next,
      boot: typeof msg.boot === 'string' ? msg.boot : '',
    });
  }
}
