import type { Link } from '../transport/Transport.js';

/** Where measured client operations go: a metrics registry, say. */
export interface OpObserver {
  /** One client operation answered: its kind, its result ('ok' or an error code), how long it took here. */
  observe(op: string, result: string, seconds: number): void;
}

/** Operation kinds, by their index in a packed start (see RequestMeter). */
const OPS = ['get', 'put', 'del', 'cas', 'submit'] as const;
const OP_INDEX = new Map<string, number>(OPS.map((op, i) => [op, i]));
const KINDS = 8;
/**
 * Operations timed per connection at most: one a place never answers (a request it dropped) would
 * otherwise stay until its connection closes. Past it the oldest is forgotten, untimed.
 */
const MAX_TIMED_PER_LINK = 65_536;

/**
 * Times client operations at the place's edge: from the request leaving the decoder to its answer
 * entering the link (so it includes waiting for the backup). Keyed by connection and request id, as
 * the answers are. One number per operation in flight: its start in microseconds and its kind, packed
 * (start * 8 + kind), so that measuring allocates nothing per request.
 */
export class RequestMeter {
  private readonly started = new WeakMap<Link, Map<number, number>>();

  constructor(
    private readonly observer: OpObserver,
    private readonly nowMs: () => number,
  ) {}

  /** A client operation with this id arrived over link. */
  begin(link: Link, id: number, op: string): void {
    const kind = OP_INDEX.get(op);
    if (kind === undefined) return;
    let at = this.started.get(link);
    if (at === undefined) {
      at = new Map();
      this.started.set(link, at);
    }
    if (at.size >= MAX_TIMED_PER_LINK) at.delete(at.keys().next().value!);
    at.set(id, Math.round(this.nowMs() * 1000) * KINDS + kind);
  }

  /** An answer goes over link: when it answers an operation begun here, that operation is measured. */
  end(link: Link, msg: { t: string; id?: unknown; code?: unknown }): void {
    if (typeof msg.id !== 'number' || (msg.t !== 'res' && msg.t !== 'err')) return;
    const at = this.started.get(link);
    const packed = at?.get(msg.id);
    if (at === undefined || packed === undefined) return;
    at.delete(msg.id);
    const kind = packed % KINDS;
    const beganUs = (packed - kind) / KINDS;
    const result = msg.t === 'res' ? 'ok' : String(msg.code);
    this.observer.observe(OPS[kind]!, result, (this.nowMs() * 1000 - beganUs) / 1e6);
  }
}
