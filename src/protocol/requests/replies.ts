import type { Outbox } from '../Outbox.js';
import type { Waiter } from '../replication/PartitionReplica.js';
import { InlineValue } from '../wire/inlineValue.js';
import type { ErrorCode, ErrorReply } from '../wire/messages.js';

/** An error answer to msg (its request id, when it has one, goes back with it). */
export function errorReply(tv: number, code: ErrorCode, text: string, msg?: object): ErrorReply {
  const err: ErrorReply = { t: 'err', tv, code, msg: text };
  if (msg !== undefined && 'id' in msg && typeof msg.id === 'number') err.id = msg.id;
  return err;
}

/** Answers a client whose request is complete: with the value read, or the request's outcome. */
export function answer(out: Outbox, w: Waiter, tv: number): void {
  if (w.outcome === null) {
    // The value goes inline: the client decodes it with the reply, in one pass.
    if (w.value === null || w.value === undefined) out.reply(w.to, { t: 'res', id: w.id, tv, v: null });
    else out.reply(w.to, { t: 'res', id: w.id, tv, u: new InlineValue(w.value) });
  } else if (w.outcome.ok !== undefined) {
    out.reply(w.to, { t: 'res', id: w.id, tv, ok: w.outcome.ok });
  } else if (w.outcome.r !== undefined) {
    out.reply(w.to, { t: 'res', id: w.id, tv, r: w.outcome.r });
  } else {
    out.reply(w.to, { t: 'res', id: w.id, tv });
  }
}
