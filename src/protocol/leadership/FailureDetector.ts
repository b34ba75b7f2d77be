/**
 * Timeout-based failure detection: a watched place is suspected once nothing has been heard from it
 * for longer than the timeout. Fed with times from the injected clock, it does no I/O.
 */
export class FailureDetector {
  private readonly lastHeard = new Map<number, number>();

  constructor(private readonly timeoutMs: number) {}

  /** Watches exactly these ids: new ones start with a full timeout, others are forgotten. */
  watch(ids: readonly number[], now: number): void {
    const keep = new Set(ids);
    for (const id of this.lastHeard.keys()) if (!keep.has(id)) this.lastHeard.delete(id);
    for (const id of ids) if (!this.lastHeard.has(id)) this.lastHeard.set(id, now);
  }

  /** Records a sign of life from id. */
  heard(id: number, now: number): void {
    if (this.lastHeard.has(id)) this.lastHeard.set(id, now);
  }

  /**
   * This process was busy for ms (its tick came that late): whatever arrived meanwhile is still unread,
   * so that time does not count as anyone's silence.
   */
  credit(ms: number, now: number): void {
    for (const [id, at] of this.lastHeard) this.lastHeard.set(id, Math.min(now, at + ms));
  }

  /** Gives every watched place a fresh timeout (after this process itself was paused). */
  resetAll(now: number): void {
    for (const id of this.lastHeard.keys()) this.lastHeard.set(id, now);
  }

  /**
   * Watches exactly these ids, each suspected unless heard within graceMs from now (a new leader's
   * view: it heard nobody before, and no lease of the term before is left to wait out).
   */
  restart(ids: readonly number[], now: number, graceMs: number): void {
    this.lastHeard.clear();
    const from = now - this.timeoutMs + Math.min(graceMs, this.timeoutMs);
    for (const id of ids) this.lastHeard.set(id, from);
  }

  /** Ids silent for longer than the timeout (or than ms). */
  suspects(now: number, ms = this.timeoutMs): number[] {
    const out: number[] = [];
    for (const [id, at] of this.lastHeard) if (now - at > ms) out.push(id);
    return out;
  }
}
