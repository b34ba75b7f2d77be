import type { Place } from '../protocol/Place.js';
import { partitionOfSlot } from '../protocol/table/keyPartition.js';
import { errorReply } from '../transport/RespCodec.js';

/**
 * Where a key's request goes, and how the place's refusals read in Redis Cluster's words: MOVED to
 * the primary's RESP address, TRYAGAIN while a partition is handed over or a place is busy,
 * CLUSTERDOWN (with the reason) when a partition has no primary, the store is invalid or this place
 * has no quorum. Cluster clients follow MOVED and retry the other two.
 */

/** Null when this place is the key's primary and may answer now; otherwise the reply that says why not. */
export function routeError(place: Place, slot: number): Buffer | null {
  const t = place.tableData;
  if (t === null) return errorReply('CLUSTERDOWN The cluster is down: this place is still joining');
  const invalid = place.invalid;
  if (invalid !== null)
    return errorReply(`CLUSTERDOWN The cluster is down: the store is invalid: ${invalid}`);
  if (!t.formed) return errorReply('CLUSTERDOWN The cluster is down: it is still forming');
  const p = partitionOfSlot(slot, t.partitions.length);
  if (place.replica(p)?.role === 'primary') {
    const copy = place.copyState(p);
    if (copy.kind === 'handover') return errorReply(`TRYAGAIN partition ${p} is moving to place ${copy.to}`);
    return null;
  }
  return movedTo(place, slot, t.partitions[p]!.primary);
}

/** MOVED to primary's RESP address, or why there is none. */
function movedTo(place: Place, slot: number, primary: number | null): Buffer {
  const t = place.tableData!;
  const p = partitionOfSlot(slot, t.partitions.length);
  const owner = primary === null ? undefined : t.members.find((m) => m.id === primary);
  if (owner === undefined || owner.state === 'dead')
    return errorReply(`CLUSTERDOWN Hash slot not served: partition ${p} has no primary`);
  // The table names this place, but its replica has not become primary yet.
  if (owner.id === place.id) return errorReply(`TRYAGAIN partition ${p} is becoming primary here`);
  if (owner.resp === undefined)
    return errorReply(`CLUSTERDOWN Hash slot not served: place ${owner.id} serves no RESP port`);
  return errorReply(`MOVED ${slot} ${owner.resp}`);
}

/** The reply to a place's error answer to an operation on slot (code and text as decode.ts and Requests give them). */
export function errorOfAnswer(place: Place, code: string, msg: string, to: unknown, slot: number): Buffer {
  switch (code) {
    case 'redirect': {
      const t = place.tableData;
      if (t === null) return errorReply('CLUSTERDOWN The cluster is down: this place is still joining');
      const owner =
        typeof to === 'string' ? t.members.find((m) => m.address === to && m.state !== 'dead') : undefined;
      return movedTo(place, slot, owner?.id ?? null);
    }
    case 'unavailable':
      // Cut off from a majority, or not in the cluster yet: the cluster is down as this place sees it.
      return errorReply(
        place.hasLease && place.tableData?.formed === true ? `TRYAGAIN ${msg}` : `CLUSTERDOWN ${msg}`,
      );
    case 'invalid':
      return errorReply(`CLUSTERDOWN The cluster is down: ${msg}`);
    case 'busy':
      return errorReply(`TRYAGAIN ${msg}`);
    case 'unauthorized':
      return errorReply(`NOPERM ${msg}`);
    case 'unauthenticated':
      return errorReply(`NOAUTH ${msg}`);
    case 'processor_failed': {
      // The door's processors throw Redis's own errors (WRONGTYPE ..., ERR ...): answered as they are.
      const own = /^processor '[^']*' failed: ([A-Z]+ .*)$/s.exec(msg);
      return errorReply(own === null ? `ERR ${msg}` : own[1]!);
    }
    default:
      return errorReply(`ERR ${msg}`);
  }
}
