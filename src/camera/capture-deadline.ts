import { withDeadline } from '../deadline.js';
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
export function withCaptureDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions,
): Promise<T> {
  const { timeoutMs, signal, what } = options;
  return withDeadline(work, {
    timeoutMs,
    signal,
    onTimeout: () => new LinesideError('LS_CAMERA_TIMEOUT', `${what}: no image within ${timeoutMs} ms`),
    onAbort: (reason) => abortedError(reason, what),
  });
}
