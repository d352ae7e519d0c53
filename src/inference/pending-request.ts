import { LinesideError } from '../errors.js';

/** One request to the inference worker, from the caller's side. */
export interface Pending<R> {
  /** Set once the caller has its answer (result, error, timeout or abort); a late reply is then dropped. */
  settled: boolean;
  finish: (outcome: { result: R } | { error: LinesideError }) => void;
  whenSettled: Promise<void>;
  /** performance.now() when posted: the transfer stage is the round trip minus the worker's time. */
  sentMs?: number;
}

export interface PendingOptions {
  signal: AbortSignal | undefined;
  timeoutMs: number;
  /** The caller gave up (timeout or abort): tell the worker, which may skip the work. */
  cancel: () => void;
}

/**
 * A request's promise and its settle-once handle: it settles with the worker's answer, or with
 * LS_INFERENCE_FAILED after `timeoutMs` or when `signal` aborts, whichever comes first; timers and listeners are
 * cleaned up in `finish`, the one place every outcome goes through.
 */
export function pendingRequest<R>(options: PendingOptions): { pending: Pending<R>; promise: Promise<R> } {
  const { signal, timeoutMs } = options;
  let markSettled!: () => void;
  const whenSettled = new Promise<void>((done) => {
    markSettled = done;
  });
  let pending!: Pending<R>;
  const promise = new Promise<R>((resolve, reject) => {
    const giveUp = (error: LinesideError): void => {
      if (pending.settled) return;
      pending.finish({ error });
      options.cancel();
    };
    const onAbort = (): void =>
      giveUp(new LinesideError('LS_INFERENCE_FAILED', 'inspection aborted', { cause: signal?.reason }));
    const timeout = setTimeout(
      () => giveUp(new LinesideError('LS_INFERENCE_FAILED', `no result within inference.timeout_ms (${timeoutMs} ms)`)),
      timeoutMs,
    );
    pending = {
      settled: false,
      whenSettled,
      finish: (outcome) => {
        if (pending.settled) return;
        pending.settled = true;
        clearTimeout(timeout);
        signal?.removeEventListener('abort', onAbort);
        markSettled();
        if ('error' in outcome) reject(outcome.error);
        else resolve(outcome.result);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return { pending, promise };
}
