type Handle = ReturnType<typeof setTimeout>;

export interface DeadlineOptions {
  timeoutMs: number;
  /** The caller's signal: aborting it settles the work at once. */
  signal: AbortSignal;
  /** The rejection at the deadline. */
  onTimeout: () => Error;
  /** The rejection when `signal` aborts (given its reason). */
  onAbort: (reason: unknown) => Error;
  /** Timers to use; the pipeline passes its injected clock. Default: the global ones. */
  timers?: { setTimeout(fn: () => void, delayMs: number): Handle; clearTimeout(handle: Handle): void };
}

/**
 * Runs `work` with a signal that aborts at `timeoutMs` or when the caller aborts, and settles at that moment
 * even if `work` ignores its signal (a hung native call, a stuck worker): a part needs its answer on time,
 * whatever a driver does. A late result of `work` is ignored.
 */
export function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, options: DeadlineOptions): Promise<T> {
  const { timeoutMs, signal, onTimeout, onAbort } = options;
  const timers = options.timers ?? {
    setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clearTimeout: (h: Handle) => clearTimeout(h),
  };
  if (signal.aborted) return Promise.reject(onAbort(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    const settle = (err: Error): void => {
      cleanup();
      controller.abort(err);
      reject(err);
    };
    const abortListener = (): void => settle(onAbort(signal.reason));
    const timer = timers.setTimeout(() => settle(onTimeout()), timeoutMs);
    const cleanup = (): void => {
      timers.clearTimeout(timer);
      signal.removeEventListener('abort', abortListener);
    };
    signal.addEventListener('abort', abortListener, { once: true });
    let pending: Promise<T>;
    try {
      pending = work(controller.signal);
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    pending.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
