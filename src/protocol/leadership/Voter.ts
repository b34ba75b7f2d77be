/**
 * What a place has promised as a voter (docs/control-plane.md): the highest term it knows, the
 * leader or candidate it follows in that term, and when it last acknowledged a leader. Every place
 * keeps one; only the voters of the committed table are asked.
 *
 * The promises:
 * - once it follows term t, it stores no table and acknowledges no heartbeat of a term below t (a
 *   term has one leader at most: the candidate a majority voted for, each voter once per term);
 * - having acknowledged a leader's heartbeat at time a, it grants no vote before a + failure timeout,
 *   so a leader holding a majority's acknowledgements cannot be deposed while its lease runs.
 */
export class Voter {
  private followedTerm = 0;
  private followed: number | null = null;
  private lastAckAt = Number.NEGATIVE_INFINITY;

  /** The highest term this place follows. */
  get term(): number {
    return this.followedTerm;
  }

  /** When this place last acknowledged a leader (or led with a lease itself). */
  get lastLeaderAckAt(): number {
    return this.lastAckAt;
  }

  /** True when a table or heartbeat of this term, from the leader of that term, may be taken. */
  accepts(term: number): boolean {
    return term >= this.followedTerm;
  }

  /**
   * Follows the leader of term, unless this place follows a newer term. A leader heard in the term
   * this place voted in won it: the candidate this place voted for (maybe itself) did not.
   */
  follow(term: number, leader: number | undefined): void {
    if (term < this.followedTerm) return;
    this.followedTerm = term;
    if (leader !== undefined) this.followed = leader;
  }

  /** This place acknowledged a leader (or holds a leader's lease itself) at now. */
  ackedLeader(now: number): void {
    this.lastAckAt = Math.max(this.lastAckAt, now);
  }

  /** True when a vote for candidate in term may be granted at now (see the promises above). */
  mayGrant(
    term: number,
    candidate: number,
    now: number,
    failureTimeoutMs: number,
    ignoreLeader = false,
  ): boolean {
    const fresh = term > this.followedTerm || (term === this.followedTerm && this.followed === candidate);
    return fresh && (ignoreLeader || now - this.lastAckAt >= failureTimeoutMs);
  }

  /** Grants a vote: candidate is followed in term from now on. */
  grant(term: number, candidate: number): void {
    this.followedTerm = term;
    this.followed = candidate;
  }
}
