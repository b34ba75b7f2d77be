import { describeEvent, type PlaceEvent } from '../protocol/events.js';
import type { OutputSink } from '../protocol/Outbox.js';
import { Place } from '../protocol/Place.js';
import type { PlaceConfig } from '../protocol/PlaceConfig.js';
import { decodePlaceMessage, Rejection } from '../protocol/wire/decode.js';
import { messageBytes } from '../protocol/wire/messageBytes.js';
import type { PlaceMessage } from '../protocol/wire/messages.js';
import { isClientRequest, isControl, type WireMessage } from '../protocol/wire/messages.js';
import { type Role, roleAllows } from '../security/users.js';
import type { Link, Transport } from '../transport/Transport.js';
import type { Scheduler } from '../util/Scheduler.js';
import { EventRing, type StampedEvent } from './EventRing.js';
import { type OpObserver, RequestMeter } from './RequestMeter.js';

/** What a node reports: rejected input (warn) and the error that stopped its place (fatal). */
export interface PlaceNodeOptions {
  log?: (level: 'warn' | 'fatal', msg: string) => void;
  /**
   * Called when the protocol threw: a broken invariant, a bug. The place must stop (a crash is inside
   * the failure model; going on with broken state is not). Default: rethrow.
   */
  onFatal?: (err: unknown) => void;
  /** The process's longest event-loop block lately (ms), read every tick and reported in heartbeats. */
  loopBlockMs?: () => number;
  /** Receives every event the place reports, once stamped and kept (to log it, say). */
  onEvent?: (e: StampedEvent) => void;
  /** Events kept for `placestore events` and the dashboard (default 2000). */
  eventCapacity?: number;
  /** Wall-clock ms for event times (default: the scheduler's clock). */
  wallClockMs?: () => number;
  /** Measures client operations (metrics); none by default. */
  ops?: OpObserver;
  /** With users: every client logs in first (an `auth` message) and may do what its role allows. */
  users?: UserCheck;
  /** Where to listen, when not at config.address (the address the others use: --advertise). */
  listen?: string;
}

/** Checks a user's password (security/users.ts): its role, or null; slow on purpose after failures. */
export interface UserCheck {
  verify(source: string, name: string, password: string): Promise<LoginVerdict>;
}

/** A login's outcome: the user's role, or null and why not. */
export type LoginVerdict = { role: Role } | { role: null; why: string };

/** A client connection's login: waiting for the password check (requests held meanwhile), or done. */
type Session =
  | { kind: 'pending'; held: WireMessage[]; bytes: number }
  | { kind: 'ok'; user: string; role: Role }
  | { kind: 'failed' };

/** Requests a connection may send before its login is checked, in count and bytes; past it they are refused as busy. */
const MAX_HELD_BEFORE_LOGIN = 1024;
const MAX_HELD_BYTES_BEFORE_LOGIN = 16 * 1024 * 1024;

/**
 * Runs a Place on a transport and a scheduler: every received message is checked at this edge
 * (decode.ts; bad input gets an error reply and never reaches the protocol), handed to the place,
 * and what it decided is drained onto links once the received batch or tick is handled.
 */
export class PlaceNode {
  readonly place: Place;
  /** The events this place reported lately (events.ts), oldest first. */
  readonly events: EventRing;
  private stopTicking: (() => void) | null = null;
  /** Set once the protocol threw: the place does nothing more. */
  private failed = false;
  private readonly sink: OutputSink;
  private readonly log: NonNullable<PlaceNodeOptions['log']>;
  private readonly onFatal: NonNullable<PlaceNodeOptions['onFatal']>;
  private readonly loopBlockMs: (() => number) | undefined;
  private readonly onEvent: ((e: StampedEvent) => void) | undefined;
  private readonly wallClockMs: () => number;
  private readonly meter: RequestMeter | null;
  private readonly users: UserCheck | undefined;
  private readonly listenAddress: string | undefined;
  private readonly sessions = new WeakMap<Link, Session>();
  /** Connections logged in (for SIGHUP's check of their users); closed ones leave it then. */
  private readonly loggedInLinks = new Set<Link>();

  constructor(
    readonly config: PlaceConfig,
    private readonly transport: Transport,
    private readonly scheduler: Scheduler,
    options: PlaceNodeOptions = {},
  ) {
    this.log = options.log ?? (() => {});
    this.onFatal =
      options.onFatal ??
      ((err) => {
        throw err;
      });
    this.loopBlockMs = options.loopBlockMs;
    this.onEvent = options.onEvent;
    this.wallClockMs = options.wallClockMs ?? (() => scheduler.now());
    this.events = new EventRing(options.eventCapacity ?? 2000);
    this.meter = options.ops === undefined ? null : new RequestMeter(options.ops, () => scheduler.now());
    this.users = options.users;
    this.listenAddress = options.listen;
    this.place = new Place(config, scheduler);
    this.sink = {
      sendTo: (address, msg) =>
        this.send(transport.linkTo(address, isControl(msg.t) ? 'control' : 'data'), msg),
      // Replies go back over the link the request came on: the transport's own Link objects.
      reply: (to, msg) => {
        if (this.meter !== null) this.meter.end(to as Link, msg);
        this.send(to as Link, msg);
      },
      disconnect: (address) => transport.disconnect(address),
      event: (e) => this.keepEvent(e),
    };
    transport.onMessage((link, msg) => this.receive(link, msg));
    transport.onBatchEnd(() => this.drain());
    transport.onLinkClosed((link) => {
      // Replication and copies travel on the data lane: only its loss can lose them.
      if (link.lane !== 'data') return;
      this.guard(() => {
        this.place.connectionLost(link.remote);
        this.place.drain(this.sink);
      });
    });
  }

  /** Listens, then bootstraps or joins. */
  async start(): Promise<void> {
    await this.transport.listen(this.listenAddress ?? this.config.address);
    this.guard(() => {
      this.place.start();
      this.place.drain(this.sink);
    });
    this.stopTicking = this.scheduler.every(this.config.tickMs, () =>
      this.guard(() => {
        if (this.loopBlockMs !== undefined) this.place.observeLoopBlock(this.loopBlockMs());
        this.place.tick();
        this.place.drain(this.sink);
      }),
    );
  }

  /** Stops ticking and closes every connection. */
  async stop(): Promise<void> {
    this.stopTicking?.();
    this.stopTicking = null;
    await this.transport.close();
  }

  /**
   * Checks one raw message and hands it to the place; the runtime drains the output at the end of the
   * batch (tests that deliver by hand call drain()).
   */
  receive(link: Link, raw: WireMessage): void {
    if (this.failed) return;
    if (link.peerRole !== 'place' && this.users !== undefined && !this.loggedIn(link, raw)) return;
    // Without users, anyone who reaches the place may do anything: a login is not needed.
    if (raw.t === 'auth' && link.peerRole !== 'place') return;
    if (link.peerRole !== 'place' && !isClientRequest(raw.t)) {
      // A client connection that speaks the places' protocol is a stranger's or a bug: it is told
      // why and closed, and nothing it sent reaches the protocol.
      const why = `'${nameOf(raw.t)}' is not a client request; only places send it, over connections that say so`;
      this.log('warn', `closed the client connection from ${link.remote}: ${why}`);
      link.send({ t: 'err', code: 'not_a_client_request', msg: why });
      link.close();
      return;
    }
    const from = link.dialerAddress;
    if (from !== null && raw.t !== 'join' && !isClientRequest(raw.t) && !this.place.knowsAddress(from)) {
      // A place this one's table does not list comes in through the join handshake first.
      if (raw.t === 'err') return;
      const why = `'${from.slice(0, 64)}' is not a member of this cluster's table; a new place joins first`;
      this.log('warn', `refused '${nameOf(raw.t)}' from ${link.remote}: ${why}`);
      link.send({ t: 'err', code: 'not_a_member', msg: why });
      return;
    }
    if (raw.t === 'err' && (raw.code === 'unauthenticated' || raw.code === 'unauthorized'))
      this.log('warn', `${link.remote} refused this place: ${nameOf(raw.msg, 300)}`);
    const msg = decodePlaceMessage(raw, this.config);
    if (msg instanceof Rejection) {
      // Never answer an error with an error: two peers could bounce them forever.
      if (raw.t === 'err') return;
      this.log('warn', `refused '${nameOf(raw.t)}' from ${link.remote}: ${msg.text}`);
      const reply: WireMessage = { t: 'err', code: msg.code, msg: msg.text };
      if (typeof raw.id === 'number') reply.id = raw.id;
      link.send(reply);
      return;
    }
    if (msg.t === 'events') {
      link.send({ t: 'eventsReply', id: msg.id, ...this.events.read(msg.since, 500) });
      return;
    }
    if (this.meter !== null && msg.t === 'op') this.meter.begin(link, msg.id, msg.o);
    // The hot path, so no closure per message: the same guard as guard() below.
    try {
      this.place.step(link, msg);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Users are on: true when this client connection's message may go on (its login was checked and
   * its role allows it). Otherwise it was answered here (a login checked, held, or refused).
   */
  private loggedIn(link: Link, raw: WireMessage): boolean {
    const users = this.users!;
    const session = this.sessions.get(link);
    const id = typeof raw.id === 'number' ? raw.id : undefined;
    const refuse = (code: 'unauthenticated' | 'unauthorized' | 'busy', msg: string) => {
      const reply: WireMessage = { t: 'err', code, msg };
      if (id !== undefined) reply.id = id;
      link.send(reply);
    };
    if (raw.t === 'auth') {
      if (session !== undefined) {
        // Only this message is refused: the connection's login stands.
        link.send({ t: 'err', code: 'bad_request', msg: 'this connection has logged in already' });
        return false;
      }
      const { user, password } = raw;
      if (
        typeof user !== 'string' ||
        typeof password !== 'string' ||
        user.length > 64 ||
        password.length > 1024
      ) {
        refuse(
          'unauthenticated',
          "a login needs 'user' (at most 64 characters) and 'password' (at most 1024)",
        );
        link.close();
        return false;
      }
      const pending: Session & { kind: 'pending' } = { kind: 'pending', held: [], bytes: 0 };
      this.sessions.set(link, pending);
      const source = link.remote.replace(/:\d+$/, '');
      users
        .verify(source, user, password)
        .then(
          (verdict) => this.loginChecked(link, user, verdict, pending.held),
          (err: unknown) => {
            this.log(
              'warn',
              `login of '${user}' from ${link.remote} failed to check: ${(err as Error).message}`,
            );
            this.loginChecked(
              link,
              user,
              { role: null, why: 'the login could not be checked' },
              pending.held,
            );
          },
        )
        .catch((err: unknown) => this.fail(err));
      return false;
    }
    if (session === undefined) {
      refuse(
        'unauthenticated',
        'this cluster has users: log in first (--user U with PLACESTORE_PASSWORD, or connect({ user, password }))',
      );
      return false;
    }
    if (session.kind === 'pending') {
      const bytes = messageBytes(raw as unknown as PlaceMessage);
      if (session.held.length >= MAX_HELD_BEFORE_LOGIN || session.bytes + bytes > MAX_HELD_BYTES_BEFORE_LOGIN)
        refuse('busy', 'the login of this connection is still being checked; retry');
      else {
        session.held.push(raw);
        session.bytes += bytes;
      }
      return false;
    }
    if (session.kind === 'failed') return false;
    if (!roleAllows(session.role, nameOf(raw.t), raw.o)) {
      const what = raw.t === 'op' ? nameOf(raw.o) : nameOf(raw.t);
      refuse('unauthorized', `user '${session.user}' has role ${session.role}, which may not ${what}`);
      return false;
    }
    return true;
  }

  private loginChecked(link: Link, user: string, verdict: LoginVerdict, held: WireMessage[]): void {
    if (link.closed || this.failed) return;
    const role = verdict.role;
    if (role === null) {
      this.sessions.set(link, { kind: 'failed' });
      this.log('warn', `refused the login of '${user.slice(0, 64)}' from ${link.remote}: ${verdict.why}`);
      link.send({ t: 'err', code: 'unauthenticated', msg: verdict.why });
      link.close();
      return;
    }
    this.sessions.set(link, { kind: 'ok', user, role });
    this.loggedInLinks.add(link);
    link.send({ t: 'authOk', role });
    // Outside the transport's turn: the same guard as for what it delivers.
    for (const m of held) {
      if (link.closed || this.failed) return;
      try {
        this.receive(link, m);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    this.drain();
  }

  /**
   * The users were read again (SIGHUP): a logged-in connection whose user is gone is closed, one
   * whose role changed gets the new one.
   */
  usersChanged(roleOf: (user: string) => Role | null): void {
    for (const link of this.loggedInLinks) {
      const s = this.sessions.get(link);
      if (link.closed || s === undefined || s.kind !== 'ok') {
        this.loggedInLinks.delete(link);
        continue;
      }
      const role = roleOf(s.user);
      if (role === null) {
        this.loggedInLinks.delete(link);
        this.sessions.set(link, { kind: 'failed' });
        link.send({ t: 'err', code: 'unauthenticated', msg: `user '${s.user}' was removed` });
        link.close();
      } else s.role = role;
    }
  }

  /** A client link that is closed or replaced (an adapter's own, as the Redis door's): its login is forgotten. */
  forget(link: Link): void {
    this.loggedInLinks.delete(link);
  }

  /** Sends what the place decided so far. */
  drain(): void {
    if (this.failed) return;
    try {
      this.place.drain(this.sink);
    } catch (err) {
      this.fail(err);
    }
  }

  private keepEvent(e: PlaceEvent): void {
    const stamped = this.events.push({
      ...e,
      time: new Date(this.wallClockMs()).toISOString(),
      place: this.place.id,
      origin: this.config.address,
      msg: describeEvent(e),
    });
    try {
      this.onEvent?.(stamped);
    } catch (err) {
      // Logging or metrics failing is not the protocol's bug: the place goes on.
      this.log('warn', `could not report event '${e.event}': ${(err as Error).message}`);
    }
  }

  private send(link: Link, msg: object & { t: string }): void {
    try {
      link.send(msg);
    } catch (err) {
      // A message the link cannot carry (over the frame limit) is lost like one on a broken link.
      this.log('warn', `could not send '${msg.t}' to ${link.remote}: ${(err as Error).message}`);
    }
  }

  /** Runs protocol code; an exception from it is a bug that stops this place. */
  private guard(fn: () => void): void {
    if (this.failed) return;
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopTicking?.();
    this.log('fatal', `place stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    this.onFatal(err);
  }
}

/** A field from the wire as text for a message or a log line: strings (cut short) only, never a throw. */
function nameOf(v: unknown, max = 64): string {
  return typeof v === 'string' ? v.slice(0, max) : `(a ${v === null ? 'null' : typeof v}, not a string)`;
}
