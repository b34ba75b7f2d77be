/** A protocol invariant was broken: a bug, never bad input. It stops the place (a crash is in the failure model). */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Throws an InvariantError with message unless cond holds. */
export function invariant(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new InvariantError(message());
}
