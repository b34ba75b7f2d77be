import { REDIS_PROCESSORS } from './redisProcessors.js';

/** What a processor decides: a new value, a deletion, or neither (a read), and what to return. */
export interface ProcessorOutcome {
  value?: unknown;
  delete?: boolean;
  result?: unknown;
}

/** A named function run at a key's primary by submitToKey; it must be deterministic and quick. */
export type Processor = (current: unknown, arg: unknown, key: string) => ProcessorOutcome;

/** Adds arg (default 1) to a numeric value (absent counts as 0) and returns the sum. */
const increment: Processor = (current, arg) => {
  const by = arg === undefined || arg === null ? 1 : arg;
  if (typeof by !== 'number') throw new Error(`increment: argument must be a number, got ${typeof by}`);
  const base = current === undefined ? 0 : current;
  if (typeof base !== 'number') throw new Error(`increment: current value is a ${typeof base}, not a number`);
  const next = base + by;
  return { value: next, result: next };
};

/** Appends arg to a string value (absent counts as '') and returns the new string. */
const append: Processor = (current, arg) => {
  if (typeof arg !== 'string') throw new Error(`append: argument must be a string, got ${typeof arg}`);
  const base = current === undefined ? '' : current;
  if (typeof base !== 'string') throw new Error(`append: current value is a ${typeof base}, not a string`);
  const next = base + arg;
  return { value: next, result: next };
};

/** Sets the value only when the key is absent; returns the value now stored. */
const putIfAbsent: Processor = (current, arg) =>
  current === undefined ? { value: arg, result: arg } : { result: current };

/** Built-in processors, available on every place (the Redis door's among them). */
export const BUILTIN_PROCESSORS: Readonly<Record<string, Processor>> = {
  increment,
  append,
  putIfAbsent,
  ...REDIS_PROCESSORS,
};

/** Returns the registry of built-ins plus user processors (a user processor may not shadow a built-in). */
export function processorRegistry(user: Record<string, unknown> = {}): Map<string, Processor> {
  const registry = new Map<string, Processor>(Object.entries(BUILTIN_PROCESSORS));
  for (const [name, fn] of Object.entries(user)) {
    if (typeof fn !== 'function') throw new Error(`processor '${name}' is a ${typeof fn}, not a function`);
    if (registry.has(name)) throw new Error(`processor '${name}' would shadow a built-in processor`);
    registry.set(name, fn as Processor);
  }
  return registry;
}
