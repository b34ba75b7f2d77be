/**
 * The lease: how long this place may answer as a primary without hearing from the cluster, so that a
 * place that was paused or cut off, and may already be replaced, stops answering before anyone else
 * takes its partitions over.
 *
 * The rule, in full (Leadership applies it):
 * - A member's lease is renewed by the leader's answer to its heartbeat; the leader's own by its
 *   deputy's answer (alone, with no deputy to depose it, the leader grants itself one).
 * - A lease runs from the time the heartbeat was sent (its `ts`, echoed back), never from when the
 *   answer arrived, and lasts half a failure timeout: it ends well before the leader may declare its
 *   holder dead (a failure timeout after the holder's last heartbeat).
 * - Only the right grantor in the current term (or the term of the leader's pending table) renews it.
 * - A grantor that has decided, even before committing, that the sender is dead does not answer.
 * - A process that finds it was paused holds no lease until a member has shown it a table.
 */
export class Lease {
  private until = Number.NEGATIVE_INFINITY;

  constructor(private readonly lengthMs: number) {}

  /** True while the lease runs at local time now. */
  heldAt(now: number): boolean {
    return now < this.until;
  }

  /** The grantor answered a heartbeat sent at sentAt: the lease runs from then. */
  renewFrom(sentAt: number): void {
    this.until = Math.max(this.until, sentAt + this.lengthMs);
  }

  /** A leader with nobody to depose it grants itself a lease from now. */
  grantSelf(now: number): void {
    this.until = now + this.lengthMs;
  }

  /** Gone at once (this place was replaced). */
  revoke(): void {
    this.until = Number.NEGATIVE_INFINITY;
  }
}
