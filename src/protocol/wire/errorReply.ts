import type { ErrorCode, ErrorReply } from './messages.js';

/** An error answer to msg (its request id, when it has one, goes back with it). */
export function errorReply(tv: number, code: ErrorCode, text: string, msg?: object): ErrorReply {
  const err: ErrorReply = { t: 'err', tv, code, msg: text };
  if (msg !== undefined && 'id' in msg && typeof msg.id === 'number') err.id = msg.id;
  return err;
}
