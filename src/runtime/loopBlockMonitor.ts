import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The longest event-loop block of this process lately, in whole ms. */
export interface LoopBlockMonitor {
  /** The longest block over the current window and the one before (so at least windowMs back). */
  read(): number;
  stop(): void;
}

/**
 * Measures how long the event loop was blocked (a timer firing late by that much), with Node's own
 * histogram (perf_hooks.monitorEventLoopDelay), in windows of windowMs.
 */
export function loopBlockMonitor(windowMs = 10_000): LoopBlockMonitor {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let previousMaxNs = 0;
  let windowStart = performance.now();
  return {
    read() {
      const now = performance.now();
      if (now - windowStart >= windowMs) {
        previousMaxNs = histogram.max;
        histogram.reset();
        windowStart = now;
      }
      return Math.round(Math.max(previousMaxNs, histogram.max) / 1e6);
    },
    stop() {
      histogram.disable();
    },
  };
}
