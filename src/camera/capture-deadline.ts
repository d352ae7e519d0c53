import { LinesideError, isLinesideError } from '../errors.js';

export interface DeadlineOptions {
  timeoutMs: number;
  /** The caller's signal (the pipeline aborts it at its own capture deadline or at shutdown). */
  signal: AbortSignal;
  /** Names the camera in the error message, e.g. "folder /data/line1". */
  what: string;
}

function abortedError(reason: unknown, what: string): LinesideError {
  if (isLinesideError(reason)) return reason;
  return new LinesideError('LS_CAMERA_TIMEOUT', `${what}: capture aborted by the caller`, { cause: reason });
}

/**
 * Runs `work` with a signal that aborts at `timeoutMs` or when the caller aborts, and settles at that moment
 * even if `work` ignores its signal (a hung native call): the pipeline needs its answer on time, whatever the driver does.
 * Timeout and abort reject with LS_CAMERA_TIMEOUT (or the caller's own LinesideError reason).
 */
export function withCaptureDeadline<T>(work: (signal: AbortSignal) => Promise<T>, options: DeadlineOptions): Promise<T> {
  const { timeoutMs, signal, what } = options;
  if (signal.aborted) return Promise.reject(abortedError(signal.reason, what));
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    const settle = (err: LinesideError): void => {
      cleanup();
      controller.abort(err);
      reject(err);
    };
    const onAbort = (): void => settle(abortedError(signal.reason, what));
    const timer = setTimeout(
      () => settle(new LinesideError('LS_CAMERA_TIMEOUT', `${what}: no image within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
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
