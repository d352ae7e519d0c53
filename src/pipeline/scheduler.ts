import type { Clock, TimerHandle } from './clock.js';

/** Runs a callback at a monotonic time. `at` returns a cancel function (idempotent). */
export interface Scheduler {
  at(dueMs: number, fn: (nowMs: number) => void): () => void;
}

/** Plain setTimeout: about 1 ms granularity, and late by however long the event loop is busy. */
export class TimeoutScheduler implements Scheduler {
  constructor(private readonly deps: { clock: Clock }) {}

  at(dueMs: number, fn: (nowMs: number) => void): () => void {
    const { clock } = this.deps;
    const handle = clock.setTimeout(() => fn(clock.now()), dueMs - clock.now());
    return () => clock.clearTimeout(handle);
  }
}

export interface PreciseSchedulerDeps {
  clock: Clock;
  /**
   * Milliseconds before the due time at which the scheduler stops yielding and holds the event loop
   * until the due time. Node timers fire on whole milliseconds, may fire early (the loop's cached time is
   * stale) and late (any task running at the due time delays them); holding the loop is the only way a
   * task queued in the last holdMs cannot delay the gate. 0 = plain timer (use with fake timers).
   */
  holdMs: number;
}

/**
 * Sub-millisecond scheduling for the gate: a timer wakes up holdMs (+1 ms timer slack) before the due
 * time, then the callback spins on the monotonic clock. Cost: up to holdMs + 1 ms of event-loop time per
 * call, so use it only for edges whose timing matters (gate activation), not for bookkeeping.
 */
export class PreciseScheduler implements Scheduler {
  constructor(private readonly deps: PreciseSchedulerDeps) {}

  /** fn never runs synchronously inside `at`: a due time already (nearly) reached runs in a microtask. */
  at(dueMs: number, fn: (nowMs: number) => void): () => void {
    const { clock, holdMs } = this.deps;
    let handle: TimerHandle | undefined;
    let cancelled = false;
    const fire = (): void => {
      if (cancelled) return;
      let nowMs = clock.now();
      while (nowMs < dueMs) nowMs = clock.now();
      fn(nowMs);
    };
    /** Undefined when it is time to hold; otherwise how long to sleep first. */
    const sleepMs = (): number | undefined => {
      const remainingMs = dueMs - clock.now();
      if (holdMs > 0) return remainingMs - holdMs > 1 ? remainingMs - holdMs : undefined;
      return remainingMs > 0 ? remainingMs : undefined;
    };
    const arm = (): void => {
      handle = undefined;
      if (cancelled) return;
      // A timer may wake early (libuv's cached loop time lags the real clock): sleep again rather than spin long.
      const ms = sleepMs();
      if (ms === undefined) fire();
      else handle = clock.setTimeout(arm, ms);
    };
    const firstMs = sleepMs();
    if (firstMs === undefined) queueMicrotask(fire);
    else handle = clock.setTimeout(arm, firstMs);
    return () => {
      cancelled = true;
      if (handle !== undefined) clock.clearTimeout(handle);
    };
  }
}
