import { createHistogram } from 'node:perf_hooks';

export interface Percentiles {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** The histogram counts whole steps of 0.1 ms (it records integers >= 1). */
const STEPS_PER_MS = 10;
/** Latencies above this are counted at this value (the percentile then reports the exact maximum). */
const HIGHEST_MS = 60_000;
const HIGHEST_STEPS = HIGHEST_MS * STEPS_PER_MS;

/**
 * Latency percentiles for run summaries that may last months, in fixed memory: node's HDR histogram
 * (perf_hooks.createHistogram) with 3 significant figures, so steps are exact up to 204.7 ms and within 0.1%
 * above. Each latency is counted as the upper edge of its 0.1 ms step, and the histogram reports the upper
 * edge of its bucket: a percentile is never optimistic, and never above the exact maximum.
 */
export class LatencyHistogram {
  private readonly histogram = createHistogram({ lowest: 1, highest: HIGHEST_STEPS, figures: 3 });
  private maxMs = Number.NEGATIVE_INFINITY;

  get count(): number {
    return this.histogram.count;
  }

  record(ms: number): void {
    const v = Math.max(0, ms);
    this.histogram.record(Math.min(Math.floor(v * STEPS_PER_MS) + 1, HIGHEST_STEPS));
    if (v > this.maxMs) this.maxMs = v;
  }

  /** Nearest-rank p50 and p99, and the exact maximum, in ms; nulls when nothing was recorded. */
  percentiles(): Percentiles {
    if (this.histogram.count === 0) return { p50: null, p99: null, max: null };
    return { p50: this.percentile(50), p99: this.percentile(99), max: this.maxMs };
  }

  private percentile(p: number): number {
    const steps = this.histogram.percentile(p);
    return steps >= HIGHEST_STEPS ? this.maxMs : Math.min(steps / STEPS_PER_MS, this.maxMs);
  }
}
