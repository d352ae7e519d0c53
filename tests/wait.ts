import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Polls `check` until it holds, or fails after `timeoutMs` naming `what` (and the last assertion error).
 * `check` either returns a boolean or asserts: a throw means "not yet". The deadline only bounds a hang; it
 * never decides a pass, so on a loaded machine a test gets slower, not red. Keep it generous.
 */
export async function waitFor(check: () => boolean | void, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let last: unknown;
    try {
      if (check() !== false) return;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Resolves once `ms` have passed on the performance.now() clock since `sinceMs`. For behaviour that is defined
 * by elapsed time (a threshold in the config): the wait is derived from that threshold and an observed event,
 * never a guess at how long something else takes. Timers may fire a millisecond early; this cannot.
 */
export async function elapsed(sinceMs: number, ms: number): Promise<void> {
  for (;;) {
    const leftMs = sinceMs + ms - performance.now();
    if (leftMs <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(leftMs)));
  }
}

/** Lets everything already queued run: pending I/O callbacks and the promise jobs they start. */
export async function yieldTurns(turns = 1): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}
