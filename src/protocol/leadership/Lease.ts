import { majorityOf } from '../table/PartitionTable.js';

/**
 * Leases: how long a place may answer as a primary without hearing from the cluster, so that a place
 * that was paused or cut off, and may already be replaced, stops answering before anyone else takes
 * its partitions over. The argument is in docs/control-plane.md; the rule, in full:
 * - The leader holds a lease while a majority of the voters (of its committed table, and of the
 *   table it is committing) acknowledged one of its heartbeats lately (LeaderLease). Each such
 *   acknowledgement promises no vote for a failure timeout, so no new term can start meanwhile.
 * - A member's lease (Lease) is renewed by the leader's answer to its heartbeat, and never runs past
 *   the leader's own (the answer carries what remains of it, `lr`): when a new term can start, every
 *   lease of the old one has ended.
 * - A lease runs from the time the heartbeat was sent (its `ts`, echoed back), never from when the
 *   answer arrived, and lasts at most half a failure timeout: it ends well before the leader may
 *   declare its holder dead (a failure timeout after the holder's last heartbeat).
 * - Only the leader of the member's table, in its term, renews it; a leader that has decided, even
 *   before committing, that the sender is dead does not answer.
 * - A process that finds it was paused holds no lease until a member has shown it a table.
 */
export class Lease {
  private until = Number.NEGATIVE_INFINITY;

  constructor(private readonly lengthMs: number) {}

  /** True while the lease runs at local time now. */
  heldAt(now: number): boolean {
    return now < this.until;
  }

  /** The grantor answered a heartbeat sent at sentAt: the lease runs from then, for at most maxMs. */
  renewFrom(sentAt: number, maxMs: number): void {
    this.until = Math.max(this.until, sentAt + Math.min(this.lengthMs, maxMs));
  }

  /** Gone at once (this place was replaced). */
  revoke(): void {
    this.until = Number.NEGATIVE_INFINITY;
  }
}

/** The leader's lease: held while, in every voter set it answers to, a majority acknowledged it lately. */
export class LeaderLease {
  /** Per voter, when the newest heartbeat it acknowledged was sent (leader's clock). */
  private readonly sentAt = new Map<number, number>();

  constructor(private readonly lengthMs: number) {}

  /** The last answer of until(), valid while no acknowledgement came and the sets are the same. */
  private cached: { me: number; sets: readonly (readonly number[])[]; until: number } | null = null;

  /** Voter acknowledged the heartbeat sent at ts. */
  acknowledged(voter: number, ts: number): void {
    this.sentAt.set(voter, Math.max(this.sentAt.get(voter) ?? Number.NEGATIVE_INFINITY, ts));
    this.cached = null;
  }

  /** Forgets every acknowledgement (a new term: those of the old one promise nothing about it). */
  reset(): void {
    this.sentAt.clear();
    this.cached = null;
  }

  /**
   * Local time until which the lease runs: per voter set, the time the majority-th freshest
   * acknowledgement expires (this place itself never expires); the earliest over the sets.
   */
  until(me: number, sets: readonly (readonly number[])[]): number {
    const c = this.cached;
    if (c !== null && c.me === me && c.sets === sets) return c.until;
    let end = Number.POSITIVE_INFINITY;
    for (const set of sets) {
      if (set.length === 0) continue;
      const expiries = set
        .map((id) =>
          id === me
            ? Number.POSITIVE_INFINITY
            : (this.sentAt.get(id) ?? Number.NEGATIVE_INFINITY) + this.lengthMs,
        )
        .sort((a, b) => b - a);
      end = Math.min(end, expiries[majorityOf(set.length) - 1] ?? Number.NEGATIVE_INFINITY);
    }
    this.cached = { me, sets, until: end };
    return end;
  }
}
