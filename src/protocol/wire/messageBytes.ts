import type { PlaceMessage } from './messages.js';

/**
 * About how many bytes a decoded message holds: its keys, values and entries (the fields that can
 * be large), and a little for the rest. For bounds in bytes on what a place holds.
 */
export function messageBytes(msg: PlaceMessage): number {
  const m = msg as unknown as Record<string, unknown>;
  let bytes = 64 + size(m.k) + size(m.v) + size(m.x) + size(m.a);
  for (const field of ['es', 'kv'] as const) {
    const items = m[field];
    if (Array.isArray(items)) for (const x of items) bytes += size(x) + 8;
  }
  return bytes;
}

function size(v: unknown): number {
  if (v instanceof Uint8Array) return v.length;
  return typeof v === 'string' ? v.length * 3 : 0;
}
