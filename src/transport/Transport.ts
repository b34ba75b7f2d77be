import type { Tagged, WireMessage } from '../protocol/wire/messages.js';

export type { Tagged, WireMessage };

/**
 * Which connection to a place a message travels on. Control traffic (heartbeats, tables) has its own,
 * so it never waits behind bulk data (replication, copies) in a socket's buffers, and a receiver
 * under backpressure keeps reading it.
 */
export type Lane = 'control' | 'data';

/**
 * Who is at the other end of a link. A link this side dialled reaches a place (only places listen);
 * an incoming one is a place's only if the dialer's first frame said so, and a client's otherwise.
 */
export type PeerRole = 'place' | 'client';

/** One open connection; replies to a received message go back over the link it came on. */
export interface Link {
  /** Queues a message; frames are flushed together once per event-loop turn. */
  send(msg: Tagged): void;
  /** Closes the connection; queued frames are flushed first. */
  close(): void;
  /** True once the connection is closed or failed. */
  readonly closed: boolean;
  /** Human-readable peer, for logs and errors. */
  readonly remote: string;
  /** The lane it carries (an incoming link learns it from the dialer's first frame). */
  readonly lane: Lane;
  /** Who is at the other end (see PeerRole). */
  readonly peerRole: PeerRole;
  /**
   * For a link a place dialled to this side: the address it says it listens at (its first frame);
   * null otherwise (a client's, or a link this side dialled, whose address it chose itself).
   */
  readonly dialerAddress: string | null;
}

/** Receives every decoded message, with the link it arrived on. */
export type MessageHandler = (link: Link, msg: WireMessage) => void;

/** Receives the error that made a link unusable (bad frame, socket error, peer gone). */
export type LinkClosedHandler = (link: Link, reason: string) => void;

/** What a place or a client needs from a network: listen, dial pooled links, hear messages. */
export interface Transport {
  /** Starts accepting connections at address ("host:port"); resolves once listening. */
  listen(address: string): Promise<void>;
  /** Returns the pooled outgoing link to address on a lane (default data), dialing (and re-dialing after a failure) as needed. */
  linkTo(address: string, lane?: Lane): Link;
  /** Closes the pooled outgoing links to address (every lane), if any, dropping what is queued on them. */
  disconnect(address: string): void;
  /** Sets the handler of every message arriving on any link, incoming or outgoing. */
  onMessage(handler: MessageHandler): void;
  /** Sets the handler called once when a link closes. */
  onLinkClosed(handler: LinkClosedHandler): void;
  /**
   * Sets the handler called after each batch of received messages (what one read of a connection
   * held) has been handed to onMessage: the moment to send what the batch produced, together.
   */
  onBatchEnd(handler: () => void): void;
  /** Closes every link and the listener. */
  close(): Promise<void>;
}
