import { LinesideError } from '../errors.js';

/**
 * The class-activation map as shown: negative evidence cut to 0 (the graph already does), divided by its
 * maximum so the strongest location is 1. A map with no positive evidence is all 0 (nothing to point at, not NaN).
 * Throws LS_INFERENCE_FAILED on a non-finite value: a broken map must not be drawn as a plausible one.
 */
export function normaliseCam(raw: Float32Array): Float32Array<ArrayBuffer> {
  let max = 0;
  for (const value of raw) {
    if (!Number.isFinite(value)) {
      throw new LinesideError('LS_INFERENCE_FAILED', `class-activation map holds a non-finite value (${value})`);
    }
    if (value > max) max = value;
  }
  const out = new Float32Array(raw.length);
  if (max === 0) return out;
  for (let i = 0; i < raw.length; i++) out[i] = Math.min(1, Math.max(0, (raw[i] as number) / max));
  return out;
}
