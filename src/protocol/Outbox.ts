import type { PlaceEvent } from './events.js';
import type { PlaceOutMessage } from './wire/messages.js';

/** The connection a message arrived on, as the runtime knows it: replies go back over it. */
export type ReplyTo = unknown;

/** Where a place's output ends up: the runtime maps it onto links, tests onto an in-memory network. */
export interface OutputSink {
  /** Sends to the place listening at address. */
  sendTo(address: string, msg: PlaceOutMessage): void;
  /** Answers over the connection a message arrived on. */
  reply(to: ReplyTo, msg: PlaceOutMessage): void;
  /** Drops the connection to a place declared dead, with whatever is queued for it. */
  disconnect(address: string): void;
  /** Takes a decision the protocol reports (events.ts); sinks without it drop them. */
  event?(e: PlaceEvent): void;
}

const SEND = 0;
const REPLY = 1;
const DISCONNECT = 2;
const EVENT = 3;

/**
 * What a place decided to send, in the order it decided it (the Ready of etcd's raft): the protocol
 * only appends; the runtime drains it into the network once a batch of input is handled. Kept as
 * parallel arrays so that queueing a message allocates nothing.
 */
export class Outbox {
  // Slots are reused: the arrays never shrink (setting an array's length is a slow path in V8).
  private readonly kinds: number[] = [];
  private readonly targets: unknown[] = [];
  private readonly messages: (PlaceOutMessage | null)[] = [];
  private head = 0;
  private tail = 0;

  /** Queues msg for the place at address. */
  send(address: string, msg: PlaceOutMessage): void {
    this.push(SEND, address, msg);
  }

  /** Queues msg as an answer over the connection `to`. */
  reply(to: ReplyTo, msg: PlaceOutMessage): void {
    this.push(REPLY, to, msg);
  }

  /** Queues the dropping of the connection to address (after what was queued before it). */
  disconnect(address: string): void {
    this.push(DISCONNECT, address, null);
  }

  /** Queues a decision to report (after what was queued before it). */
  event(e: PlaceEvent): void {
    this.push(EVENT, e, null);
  }

  /** Number of items waiting to be drained. */
  get size(): number {
    return this.tail - this.head;
  }

  private push(kind: number, target: unknown, msg: PlaceOutMessage | null): void {
    const i = this.tail++;
    if (i < this.kinds.length) {
      this.kinds[i] = kind;
      this.targets[i] = target;
      this.messages[i] = msg;
    } else {
      this.kinds.push(kind);
      this.targets.push(target);
      this.messages.push(msg);
    }
  }

  /**
   * Hands every queued item to sink, in order. The sink may cause more output (a dropped connection is
   * reported back to the place at once): a nested drain goes on from the same point, so order holds.
   */
  drain(sink: OutputSink): void {
    while (this.head < this.tail) {
      const i = this.head++;
      const kind = this.kinds[i];
      const target = this.targets[i];
      const msg = this.messages[i];
      this.targets[i] = null;
      this.messages[i] = null;
      if (kind === DISCONNECT) sink.disconnect(String(target));
      else if (kind === EVENT) sink.event?.(target as PlaceEvent);
      else if (msg === null || msg === undefined) continue;
      else if (kind === SEND) sink.sendTo(String(target), msg);
      else sink.reply(target, msg);
    }
    this.head = 0;
    this.tail = 0;
  }
}
