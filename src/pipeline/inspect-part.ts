import { withDeadline } from '../deadline.js';
import type { FailsafeReason } from '../domain/part.js';
import type { CapturedImage, Inspection } from '../domain/ports.js';
import { type ErrorCode, LinesideError, errorCode, errorMessage } from '../errors.js';
import type { Clock } from './clock.js';
import type { PartFault } from './part.js';

export type CaptureFn = (signal: AbortSignal) => Promise<CapturedImage>;
export type InspectFn = (image: CapturedImage, signal: AbortSignal) => Promise<Inspection>;

export interface InspectPartDeps {
  capture: CaptureFn;
  inspect: InspectFn;
  /** camera.timeout_ms: capture deadline per part. */
  captureTimeoutMs: number;
  /** inference.timeout_ms: inspection deadline per part. */
  inspectTimeoutMs: number;
  /** False while the model is not loaded/warmed up: the part is rejected 'model_not_ready' without inspecting. */
  modelReady?: () => boolean;
  clock: Clock;
}

/**
 * How one inspection ended: the model's verdict, a fail-safe reason (with the error behind it, if any), or
 * 'abandoned' when the part was decided elsewhere meanwhile (its signal aborted: late, shutdown, encoder stall).
 */
export type InspectOutcome =
  | { kind: 'verdict'; inspection: Inspection }
  | { kind: 'failsafe'; reason: FailsafeReason; fault?: PartFault }
  | { kind: 'abandoned' };

/** What the camera delivered, reported as soon as it did (the record carries it whatever happens next). */
export interface Captured {
  image: CapturedImage;
  captureMs: number;
}

const CAPTURE_REASON: Partial<Record<ErrorCode, FailsafeReason>> = {
  LS_CAMERA_TIMEOUT: 'camera_timeout',
};

const INSPECT_REASON: Partial<Record<ErrorCode, FailsafeReason>> = {
  LS_IMAGE_DECODE: 'decode_error',
  LS_IMAGE_TOO_LARGE: 'decode_error',
  LS_MODEL_MISSING: 'model_not_ready',
  LS_MODEL_CHECKSUM: 'model_not_ready',
  LS_MODEL_INVALID: 'model_not_ready',
  LS_EP_UNAVAILABLE: 'model_not_ready',
};

/** The record's error: the error's own code, or `fallback` for an error without one (a driver's plain Error). */
export function partFault(err: unknown, fallback?: ErrorCode): PartFault {
  const code = errorCode(err);
  return { code: code === 'LS_INTERNAL' && fallback !== undefined ? fallback : code, message: errorMessage(err) };
}

/**
 * Capture, then inspect, each under its own deadline and the part's signal. Never throws: every failure is an
 * outcome. `onCaptured` runs as soon as the image is in, before the model is asked.
 */
export async function inspectPart(
  deps: InspectPartDeps,
  signal: AbortSignal,
  onCaptured: (captured: Captured) => void,
): Promise<InspectOutcome> {
  const { clock } = deps;
  const captureStartMs = clock.now();
  let image: CapturedImage;
  try {
    image = await underDeadline(deps, signal, deps.captureTimeoutMs, 'LS_CAMERA_TIMEOUT', deps.capture);
  } catch (err) {
    if (signal.aborted) return { kind: 'abandoned' };
    const reason = CAPTURE_REASON[errorCode(err)] ?? 'camera_error';
    return {
      kind: 'failsafe',
      reason,
      fault: partFault(err, reason === 'camera_error' ? 'LS_CAMERA_ERROR' : undefined),
    };
  }
  onCaptured({ image, captureMs: clock.now() - captureStartMs });
  if (signal.aborted) return { kind: 'abandoned' };
  if (deps.modelReady !== undefined && !deps.modelReady()) return { kind: 'failsafe', reason: 'model_not_ready' };
  try {
    const inspection = await underDeadline(deps, signal, deps.inspectTimeoutMs, 'LS_INFERENCE_FAILED', (s) =>
      deps.inspect(image, s),
    );
    return { kind: 'verdict', inspection };
  } catch (err) {
    if (signal.aborted) return { kind: 'abandoned' };
    const reason = INSPECT_REASON[errorCode(err)] ?? 'inference_error';
    return {
      kind: 'failsafe',
      reason,
      fault: partFault(err, reason === 'inference_error' ? 'LS_INFERENCE_FAILED' : undefined),
    };
  }
}

/**
 * Runs one port call under a deadline and the part's abort signal. A port that ignores the signal is left
 * to settle on its own; its late result is ignored.
 */
function underDeadline<T>(
  deps: InspectPartDeps,
  signal: AbortSignal,
  timeoutMs: number,
  timeoutCode: ErrorCode,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withDeadline(fn, {
    timeoutMs,
    signal,
    onTimeout: () => new LinesideError(timeoutCode, `no result within ${timeoutMs} ms`),
    onAbort: (reason) => (reason instanceof Error ? reason : new Error('aborted')),
    timers: deps.clock,
  });
}
