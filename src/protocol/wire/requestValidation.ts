import type { Limits } from '../limits.js';
import type { ErrorCode, WireMessage } from './messages.js';

const OP_CODES: ReadonlySet<unknown> = new Set(['get', 'put', 'cas', 'del', 'submit']);

/** Checks a client request's shape and sizes; returns the error to answer with, or null when it is fine. */
export function validateOp(
  m: WireMessage,
  limits: Limits,
  processors: ReadonlyMap<string, unknown>,
): [ErrorCode, string] | null {
  if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id))
    return ['bad_request', "request 'id' must be an integer"];
  if (typeof m.c !== 'string') return ['bad_request', "request 'c' (client id) must be a string"];
  if (m.lo !== undefined && !Number.isSafeInteger(m.lo))
    return ['bad_request', "request 'lo' (lowest request id in flight) must be an integer"];
  if (m.r !== undefined && m.r !== 1) return ['bad_request', "request 'r' (a retry) must be 1 or absent"];
  if (typeof m.tv !== 'number') return ['bad_request', "request 'tv' (table version) must be a number"];
  if (!OP_CODES.has(m.o)) return ['unknown_command', `unknown operation '${String(m.o)}'`];
  if (typeof m.k !== 'string') return ['bad_request', 'key must be a string'];
  const { maxKeyBytes, maxValueBytes } = limits;
  // A UTF-16 unit is at most 3 UTF-8 bytes: short keys need no counting.
  if (m.k.length * 3 > maxKeyBytes && Buffer.byteLength(m.k) > maxKeyBytes) {
    return ['too_large', `key of ${Buffer.byteLength(m.k)} bytes exceeds the limit of ${maxKeyBytes} bytes`];
  }
  if (m.o === 'put' && !(m.v instanceof Uint8Array)) return ['bad_request', 'put needs a value (v) as bytes'];
  if (m.o === 'cas') {
    if (m.v !== null && !(m.v instanceof Uint8Array))
      return ['bad_request', 'cas needs a new value (v) as bytes or null'];
    if (m.x !== null && !(m.x instanceof Uint8Array)) {
      return ['bad_request', 'cas needs an expected value (x) as bytes or null'];
    }
  }
  if (m.v instanceof Uint8Array && m.v.length > maxValueBytes) {
    return ['too_large', `value of ${m.v.length} bytes exceeds the limit of ${maxValueBytes} bytes`];
  }
  if (m.x instanceof Uint8Array && m.x.length > maxValueBytes) {
    return ['too_large', `expected value of ${m.x.length} bytes exceeds the limit of ${maxValueBytes} bytes`];
  }
  if (m.o === 'submit') {
    if (typeof m.p !== 'string') return ['bad_request', 'submit needs a processor name (p)'];
    if (!processors.has(m.p)) {
      return [
        'unknown_processor',
        `unknown processor '${m.p}' (known: ${[...processors.keys()].join(', ')})`,
      ];
    }
    if (m.a !== undefined && !(m.a instanceof Uint8Array))
      return ['bad_request', 'processor argument (a) must be bytes'];
    if (m.a !== undefined && m.a.length > maxValueBytes) {
      return [
        'too_large',
        `processor argument of ${m.a.length} bytes exceeds the limit of ${maxValueBytes} bytes`,
      ];
    }
  }
  return null;
}
