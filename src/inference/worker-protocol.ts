import type { Inspection } from '../domain/ports.js';
import type { ErrorCode } from '../errors.js';
import type { PreprocessSpec } from './preprocess.js';
import type { ProviderAttempt, ProviderName } from './providers.js';
import type { ProviderConfigs } from './provider-options.js';
import type { ModelSpec } from './session.js';

/** workerData of the inference worker: everything it needs, from the already verified bundle and the config. */
export interface WorkerInit {
  model: ModelSpec;
  preprocess: PreprocessSpec;
  providers: ProviderName[];
  providerConfigs: ProviderConfigs;
  requireGpu: boolean;
  intraOpThreads: number;
  warmupRuns: number;
  maxInputPixels: number;
  /** The bundle's pinned probes (raw pixels), run after warm-up; their scores come back in 'ready'. */
  probes: Uint8Array[];
}

export type ToWorker =
  /** `image` is a private copy, transferred. */
  | { type: 'inspect'; id: number; image: Uint8Array; cam: boolean }
  /** The caller gave up (timeout, abort): skip the work if it has not started. */
  | { type: 'cancel'; id: number };

export type FromWorker =
  | {
      type: 'ready';
      executionProvider: string;
      attempts: ProviderAttempt[];
      nodeCounts: Record<string, number>;
      warmupMs: number;
      /** One score per WorkerInit.probes entry, on the provider in use. */
      probeScores: number[];
    }
  | { type: 'init-failed'; code: ErrorCode; message: string }
  | {
      type: 'result';
      id: number;
      defectScore: number;
      preprocessMs: number;
      inferenceMs: number;
      /** With `cam`: the class-activation map, 0..1, height x width (transferred). */
      heatmap?: Float32Array<ArrayBuffer>;
      /** Waiting behind other images for the model. */
      queueMs: number;
      /** From the request's arrival in the worker to this reply. */
      workerMs: number;
    }
  | { type: 'failed'; id: number; code: ErrorCode; message: string }
  | { type: 'cancelled'; id: number }
  | { type: 'log'; level: 'warn' | 'info' | 'debug'; msg: string; fields: Record<string, unknown> };

/**
 * The inspection's figures from the worker's reply: `sentMs` and `nowMs` (performance.now() on the caller's thread)
 * bound the round trip; what the worker did not spend on the request is the transfer (messages and their waits).
 */
export function workerResult(
  message: Extract<FromWorker, { type: 'result' }>,
  sentMs: number,
  nowMs: number,
): Pick<Inspection, 'defectScore' | 'preprocessMs' | 'inferenceMs' | 'queueMs' | 'transferMs'> {
  const { defectScore, preprocessMs, inferenceMs, queueMs } = message;
  return {
    defectScore,
    preprocessMs,
    inferenceMs,
    queueMs,
    transferMs: Math.max(0, nowMs - sentMs - message.workerMs),
  };
}
