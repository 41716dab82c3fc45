/**
 * Time is injected: every timer in meshrtc goes through a {@link Clock}, so a {@link SimulatedClock} can drive
 * a whole mesh deterministically in tests. `src/` never calls `setTimeout` outside a clock implementation.
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

/** The source of time and timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall-clock time). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Runs `fn` every `ms` milliseconds until cancelled. */
  setInterval(fn: () => void, ms: number): Timer;
}

/** The real clock: `performance.now()` and the runtime's timers. Timers never keep a Node process alive. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const h = globalThis.setTimeout(fn, Math.max(0, ms)) as unknown as { unref?: () => void };
    h.unref?.();
    return { cancel: () => globalThis.clearTimeout(h as unknown as Parameters<typeof clearTimeout>[0]) };
  }

  setInterval(fn: () => void, ms: number): Timer {
    const h = globalThis.setInterval(fn, Math.max(1, ms)) as unknown as { unref?: () => void };
    h.unref?.();
    return { cancel: () => globalThis.clearInterval(h as unknown as Parameters<typeof clearInterval>[0]) };
  }
}

/** The shared real clock. */
export const systemClock: Clock = new SystemClock();
