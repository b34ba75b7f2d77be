import type { Outbox } from '../Outbox.js';
import { InlineValue } from '../wire/inlineValue.js';
import type { Waiter } from './PartitionReplica.js';

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
