/** Base class of every error placestore raises; `code` names the kind. */
export class PlacestoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The store is invalid after a catastrophic failure; every call fails with this until it is rebuilt. */
export class StoreInvalidError extends PlacestoreError {
  constructor(message: string) {
    super('invalid', message);
  }
}

/**
 * No answer in time. The outcome is unknown (the operation may or may not have taken effect) unless
 * `maybeApplied` is false, which means the request was never sent.
 */
export class UnavailableError extends PlacestoreError {
  constructor(
    message: string,
    readonly maybeApplied: boolean,
  ) {
    super('unavailable', message);
  }
}

/** The request itself was refused (too large, malformed, unknown processor, processor threw); nothing changed. */
export class RequestError extends PlacestoreError {}

/**
 * The cluster refused who this client is (`unauthenticated`: no TLS, no certificate of its CA, no or
 * a wrong password) or what it asked (`unauthorized`: its role does not allow it). Retrying the same
 * way cannot help. The command line exits 5.
 */
export class AuthError extends PlacestoreError {}
