import { Packr } from 'msgpackr';
import type { PartitionCopies } from '../copy/PartitionCopies.js';
import type { Leadership } from '../leadership/Leadership.js';
import type { Membership } from '../membership/Membership.js';
import type { Outbox, ReplyTo } from '../Outbox.js';
import type { PlaceConfig } from '../PlaceConfig.js';
import { answer } from '../replication/answer.js';
import type { PartitionReplica, Waiter } from '../replication/PartitionReplica.js';
import type { Replication } from '../replication/Replication.js';
import { errorReply } from '../wire/errorReply.js';
import type { ErrorCode, ErrorReply, OpRequest, Outcome } from '../wire/messages.js';
import type { ProcessorOutcome } from './processors.js';

const packr = new Packr({ useRecords: false });
const EMPTY_OUTCOME: Outcome = {};
const SWAPPED: Outcome = { ok: true };
const NOT_SWAPPED: Outcome = { ok: false };

/**
 * Client operations at a key's primary: routing checks (joined, valid, formed, primary here, lease,
 * no handover), reads (held behind the key's unreplicated write), exactly-once retries answered from
 * remembered outcomes, and writes, compare-and-swaps and processors handed to replication.
 */
export class Requests {
  constructor(
    private readonly config: PlaceConfig,
    private readonly out: Outbox,
    private readonly membership: Membership,
    private readonly leadership: Leadership,
    private readonly replication: Replication,
    private readonly copies: PartitionCopies,
  ) {}

  /** Handles one client operation (decode.ts has checked its shape and sizes). */
  handleOp(from: ReplyTo, m: OpRequest): void {
    const table = this.membership.table;
    if (table === null) {
      this.replyError(from, m, 'unavailable', 'this place is still joining the cluster');
      return;
    }
    const invalid = this.leadership.invalid;
    if (invalid !== null) {
      this.replyError(from, m, 'invalid', `the store is invalid: ${invalid}`);
      return;
    }
    if (!table.data.formed) {
      const active = table.data.members.filter((x) => x.state === 'active').length;
      this.replyError(
        from,
        m,
        'unavailable',
        `the cluster is forming: ${active} of ${table.data.minPlaces} places have joined`,
      );
      return;
    }
    const p = table.partitionOf(m.k);
    const rep = this.replication.replica(p);
    if (m.tv > table.version) this.membership.learnNewerTable();
    if (rep === undefined || rep.role !== 'primary') {
      if (m.tv > table.version) {
        this.membership.defer(from, m, null);
        return;
      }
      const err: ErrorReply = {
        t: 'err',
        id: m.id,
        tv: table.version,
        code: 'redirect',
        msg: `partition ${p} of key is not primary here`,
      };
      const owner = table.primaryAddress(p);
      if (owner !== null) err.to = owner;
      if (m.tv < table.version) err.table = this.membership.tableToShare();
      this.out.reply(from, err);
      return;
    }
    if (!this.leadership.hasLease) {
      // Cut off from a leader that a majority backs, this place may already have been replaced.
      const me = this.membership.id;
      this.replyError(
        from,
        m,
        'unavailable',
        `no quorum: place ${me} holds no lease from a leader backed by a majority of voters right now`,
      );
      return;
    }
    const copy = this.copies.state(p);
    if (copy.kind === 'handover') {
      // Neither this place nor its backup answers until the backup has taken over.
      this.replyError(from, m, 'unavailable', `partition ${p} is moving to place ${copy.to}; retry`);
      return;
    }
    const inFlight = this.replication.inFlight;
    if (inFlight >= this.config.maxRequestsInFlight) {
      // Admission control: past the bound, new work is refused at once rather than queued without end.
      const me = this.membership.id;
      this.replyError(from, m, 'busy', `place ${me} is busy: ${inFlight} requests in flight; retry`);
      return;
    }
    if (m.o === 'get') {
      const waiter: Waiter = { to: from, id: m.id, outcome: null, value: rep.data.get(m.k) ?? null };
      if (rep.readNowOrPark(m.k, waiter)) answer(this.out, waiter, this.membership.version);
      else this.replication.parked();
      return;
    }
    rep.forgetBelow(m.c, m.lo);
    const seen = rep.remembered(m.c, m.id);
    if (
      seen === undefined &&
      (rep.pendingCount >= this.config.maxPendingWrites || rep.pendingBytes >= this.config.maxPendingBytes)
    ) {
      // The backup is far behind: bound the memory this partition holds for it, in count and bytes.
      this.replyError(
        from,
        m,
        'unavailable',
        `partition ${p} has ${rep.pendingCount} writes (${rep.pendingBytes} bytes) waiting for its backup; retry`,
      );
      return;
    }
    if (seen === undefined && rep.outcomeUnknown(m.c, m.id, m.r === 1)) {
      // Never run twice: a write whose outcome this partition no longer keeps is not run again.
      this.replyError(
        from,
        m,
        'outcome_unknown',
        `the outcome of request ${m.id} is unknown: partition ${p} no longer keeps it (its session expired), so it was not run again`,
      );
      return;
    }
    if (seen !== undefined) {
      const waiter: Waiter = { to: from, id: m.id, outcome: seen.outcome };
      if (seen.pending !== null && rep.isUnreplicated(seen)) {
        rep.parkRetry(seen.pending, waiter);
        this.replication.parked();
      } else answer(this.out, waiter, this.membership.version);
      return;
    }
    switch (m.o) {
      case 'put':
        this.replication.write(from, m, rep, m.v ?? null, EMPTY_OUTCOME);
        return;
      case 'del':
        if (rep.data.has(m.k)) this.replication.write(from, m, rep, null, EMPTY_OUTCOME);
        else this.readLike(from, m, rep, EMPTY_OUTCOME);
        return;
      case 'cas':
        if (rep.holds(m.k, m.x ?? null)) this.replication.write(from, m, rep, m.v ?? null, SWAPPED);
        else this.readLike(from, m, rep, NOT_SWAPPED);
        return;
      case 'submit':
        this.submit(from, m, rep);
        return;
    }
  }

  /** Runs a processor at the primary; its resulting value (if any) is what gets replicated. */
  private submit(from: ReplyTo, m: OpRequest, rep: PartitionReplica): void {
    const name = m.p ?? '';
    const processor = this.config.processors.get(name);
    if (processor === undefined) {
      this.replyError(from, m, 'unknown_processor', `unknown processor '${name}'`);
      return;
    }
    const current = rep.value(m.k);
    let outcome: ProcessorOutcome;
    let value: Uint8Array | null = null;
    let result: Uint8Array;
    try {
      const arg = m.a === undefined ? undefined : packr.unpack(m.a);
      outcome = processor(current === undefined ? undefined : packr.unpack(current), arg, m.k) ?? {};
      result = packr.pack(outcome.result);
      if (outcome.value !== undefined) value = packr.pack(outcome.value);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.replyError(from, m, 'processor_failed', `processor '${name}' failed: ${why}`);
      return;
    }
    const maxValueBytes = this.config.limits.maxValueBytes;
    if (value !== null && value.length > maxValueBytes) {
      this.replyError(
        from,
        m,
        'too_large',
        `processor '${name}' produced a value of ${value.length} bytes; the limit is ${maxValueBytes}`,
      );
      return;
    }
    // Its result is kept for retries and sent to the backup: bounded as a value is.
    if (result.length > maxValueBytes) {
      this.replyError(
        from,
        m,
        'too_large',
        `processor '${name}' produced a result of ${result.length} bytes; the limit is ${maxValueBytes}`,
      );
      return;
    }
    const done: Outcome = { r: result };
    if (value !== null) this.replication.write(from, m, rep, value, done);
    else if (outcome.delete === true && current !== undefined)
      this.replication.write(from, m, rep, null, done);
    else this.readLike(from, m, rep, done);
  }

  /**
   * A request that changes nothing (a failed cas, deleting an absent key, a processor that only
   * reads). Its outcome is remembered like a write's, so a retry of it gets the same answer rather
   * than a new evaluation that might differ from the answer an earlier attempt still delivers.
   */
  private readLike(from: ReplyTo, m: OpRequest, rep: PartitionReplica, outcome: Outcome): void {
    const waiter: Waiter = { to: from, id: m.id, outcome };
    if (rep.decideWithoutWrite(m.k, m.c, m.id, outcome, waiter))
      answer(this.out, waiter, this.membership.version);
    else this.replication.parked();
  }

  private replyError(to: ReplyTo, m: OpRequest, code: ErrorCode, text: string): void {
    this.out.reply(to, errorReply(this.membership.version, code, text, m));
  }
}
