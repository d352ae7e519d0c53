/**
 * Time for the pipeline, injected so that tests drive it with vitest fake timers.
 * `now()` is the monotonic clock every EdgeEvent.timeMs is stamped on (performance.now()).
 */
export interface Clock {
  /** Monotonic milliseconds (performance.now() base). */
  now(): number;
  /** Wall-clock epoch milliseconds, only for human/SCADA timestamps. */
  wallNow(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = ReturnType<typeof setTimeout>;

/**
 * The process clock. Globals are looked up on every call (not captured), so vitest fake timers installed
 * after construction still drive it.
 */
export function systemClock(): Clock {
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimeout: (fn, delayMs) => setTimeout(fn, Math.max(0, delayMs)),
    clearTimeout: (handle) => clearTimeout(handle),
  };
}
