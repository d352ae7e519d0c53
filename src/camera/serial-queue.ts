import { LinesideError } from '../errors.js';

export interface SerialQueueDeps {
  /** Calls allowed to wait behind the running one; more are refused at once instead of piling up. */
  maxWaiting: number;
  /** Names the camera in error messages. */
  what: string;
  /** Clock for "running for N ms" diagnostics; injectable for tests. */
  nowMs?: () => number;
}

interface Waiter {
  start: () => void;
  fail: (err: Error) => void;
}

/**
 * Runs tasks strictly one at a time. The queue stays busy until the task's own promise settles, not when a caller
 * gives up: a hung native call therefore blocks the queue, and later calls wait (and time out through their signals)
 * instead of starting a second native call behind it. A caller whose signal aborts while waiting leaves the queue,
 * so the number of waiters is bounded by the arrival rate times the timeout, and by `maxWaiting`.
 */
export class SerialQueue {
  readonly #deps: SerialQueueDeps;
  readonly #waiters: Waiter[] = [];
  #running: Promise<unknown> | null = null;
  #runningSinceMs = 0;
  #closedReason: LinesideError | null = null;

  constructor(deps: SerialQueueDeps) {
    this.#deps = deps;
  }

  /** Milliseconds the current task has been running, or null when idle. */
  runningForMs(): number | null {
    return this.#running === null ? null : this.#now() - this.#runningSinceMs;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  run<T>(task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.#closedReason) return Promise.reject(this.#closedReason);
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.#running === null) return this.#start(task);
    if (this.#waiters.length >= this.#deps.maxWaiting) {
      return Promise.reject(
        new LinesideError(
          'LS_CAMERA_TIMEOUT',
          `${this.#deps.what}: camera busy for ${this.runningForMs() ?? 0} ms with ${this.#waiters.length} captures already waiting`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal.reason as Error);
      };
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener('abort', onAbort);
          this.#start(task).then(resolve, reject);
        },
        fail: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Refuses new tasks and fails the waiting ones; resolves when the running task settles or after `boundMs`. */
  async close(reason: LinesideError, boundMs: number): Promise<void> {
    this.#closedReason = reason;
    for (const waiter of this.#waiters.splice(0)) waiter.fail(reason);
    const running = this.#running;
    if (running === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      running.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, boundMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #start<T>(task: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      promise = task();
    } catch (err) {
      promise = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.#running = promise;
    this.#runningSinceMs = this.#now();
    const next = (): void => {
      this.#running = null;
      this.#waiters.shift()?.start();
    };
    promise.then(next, next);
    return promise;
  }

  #now(): number {
    return (this.#deps.nowMs ?? Date.now)();
  }
}
