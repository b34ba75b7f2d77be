import type { Link } from '../transport/Transport.js';

/** Where measured client operations go: a metrics registry, say. */
export interface OpObserver {
  /** One client operation answered: its kind, its result ('ok' or an error code), how long it took here. */
  observe(op: string, result: string, seconds: number): void;
}

/**
 * Times client operations at the place's edge: from the request leaving the decoder to its answer
 * entering the link (so it includes waiting for the backup). Keyed by connection and request id, as
 * the answers are.
 */
export class RequestMeter {
  private readonly started = new WeakMap<Link, Map<number, number>>();
  private readonly kinds = new WeakMap<Link, Map<number, string>>();

  constructor(
    private readonly observer: OpObserver,
    private readonly nowMs: () => number,
  ) {}

  /** A client operation with this id arrived over link. */
  begin(link: Link, id: number, op: string): void {
    let at = this.started.get(link);
    let kind = this.kinds.get(link);
    if (at === undefined || kind === undefined) {
      at = new Map();
      kind = new Map();
      this.started.set(link, at);
      this.kinds.set(link, kind);
    }
    at.set(id, this.nowMs());
    kind.set(id, op);
  }

  /** An answer goes over link: when it answers an operation begun here, that operation is measured. */
  end(link: Link, msg: { t: string; id?: unknown; code?: unknown }): void {
    if (typeof msg.id !== 'number' || (msg.t !== 'res' && msg.t !== 'err')) return;
    const at = this.started.get(link);
    const began = at?.get(msg.id);
    if (at === undefined || began === undefined) return;
    const kinds = this.kinds.get(link)!;
    const op = kinds.get(msg.id) ?? 'unknown';
    at.delete(msg.id);
    kinds.delete(msg.id);
    const result = msg.t === 'res' ? 'ok' : String(msg.code);
    this.observer.observe(op, result, (this.nowMs() - began) / 1000);
  }
}
