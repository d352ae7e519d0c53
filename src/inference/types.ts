import type { ErrorCode } from '../errors.js';
import type { Lifecycle } from '../lifecycle.js';

export type Verdict = 'ok' | 'defective';

/** What the model says about one image. Times are wall-clock milliseconds spent in each stage. */
export interface Inspection {
  /** Probability-like score in [0, 1] that the part is defective. */
  defectScore: number;
  /** defectScore >= threshold ? 'defective' : 'ok'. */
  verdict: Verdict;
  threshold: number;
  preprocessMs: number;
  inferenceMs: number;
}

/** Facts about the loaded model, reported in logs, MQTT payloads and `doctor`. */
export interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  threshold: number;
  /** The execution provider actually in use (detected, not merely requested), e.g. 'cpu', 'cuda'. */
  executionProvider: string;
  requestedProviders: readonly string[];
}

/**
 * Owns the model (in a worker thread, so ORT's blocking run() never stalls the event loop).
 * `start` verifies the bundle, creates the session and warms up; it throws LinesideError
 * (LS_MODEL_*, LS_EP_UNAVAILABLE) when the daemon must not arm.
 */
export interface Inspector extends Lifecycle {
  readonly info: ModelInfo;
  /** Decode, preprocess and classify one encoded image (JPEG/PNG/...). Rejects with LinesideError. */
  inspect(image: Buffer, signal?: AbortSignal): Promise<Inspection>;
}

export interface InspectionFailure {
  code: ErrorCode;
  message: string;
}
