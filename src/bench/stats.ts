/** Percentiles and small sampling helpers shared by the bench's parts. */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // The epsilon keeps float error (99.9 / 100 * 1000 = 999.0000000000001) from taking the next rank.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length - 1e-9));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    p999: percentile(s, 99.9),
    max: s[s.length - 1] ?? Number.NaN,
  };
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

export interface ResourceSample {
  /** Parts completed when the sample was taken. */
  parts: number;
  rssMb: number;
  /** Event-loop delay p99 over the interval since the previous sample, ms. */
  lagP99Ms: number;
}

/**
 * Samples RSS and event-loop delay every `everyMs` until stopped; `parts()` says how far the run is, so growth
 * can be given per part rather than per second.
 */
export function sampleResources(parts: () => number, everyMs = 1000): () => ResourceSample[] {
  const samples: ResourceSample[] = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const take = (): void => {
    samples.push({
      parts: parts(),
      rssMb: process.memoryUsage.rss() / 2 ** 20,
      lagP99Ms: histogram.percentile(99) / 1e6,
    });
    histogram.reset();
  };
  take();
  const timer = setInterval(take, everyMs);
  return () => {
    clearInterval(timer);
    take();
    histogram.disable();
    return samples;
  };
}

export const round = (v: number, digits = 2): number | null =>
  Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : null;
