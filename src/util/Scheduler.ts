/** Time and timers, injected so the same code runs on the real clock and on a virtual one. */
export interface Scheduler {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls fn every ms milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls fn once after ms milliseconds unless the returned function is called first. */
  after(ms: number, fn: () => void): () => void;
  /** Calls fn once at the end of this event-loop turn (after pending I/O callbacks). */
  soon(fn: () => void): void;
}

/** The real clock: performance.now() and Node's timers (which keep the process alive until cancelled). */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  every(ms, fn) {
    const h = setInterval(fn, ms);
    return () => clearInterval(h);
  },
  after(ms, fn) {
    const h = setTimeout(fn, ms);
    return () => clearTimeout(h);
  },
  soon(fn) {
    setImmediate(fn);
  },
};
