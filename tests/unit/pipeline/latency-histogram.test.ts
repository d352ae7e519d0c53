import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/pipeline/latency-histogram.js';

function filled(values: readonly number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  return h;
}

describe('LatencyHistogram', () => {
  it('reports nulls until something is recorded', () => {
    expect(new LatencyHistogram().percentiles()).toEqual({ p50: null, p99: null, max: null });
  });

  it('is exact to the 0.1 ms step (upper edge) below 204.7 ms, and the maximum is exact', () => {
    // 21..120 ms, as a run of parts would see them: rank 50 is 70 ms, rank 99 is 119 ms.
    const h = filled(Array.from({ length: 100 }, (_, i) => 120 - i));
    expect(h.count).toBe(100);
    const p = h.percentiles();
    expect(p.p50).toBeCloseTo(70.1, 9);
    expect(p.p99).toBeCloseTo(119.1, 9);
    expect(p.max).toBe(120);
    // A latency counts as the upper edge of its step, so 0.3 ms reads 0.4 ms; never above the maximum.
    expect(filled([0.3, 0.3, 0.3, 5]).percentiles()).toEqual({ p50: 0.4, p99: 5, max: 5 });
    expect(filled([0.35]).percentiles()).toEqual({ p50: 0.35, p99: 0.35, max: 0.35 });
  });

  it('above 204.7 ms, percentiles are never below the true value and at most 0.1% (plus a step) above it', () => {
    // 1..1000 ms in a shuffled order: rank 500 is 500 ms, rank 990 is 990 ms.
    const values = Array.from({ length: 1000 }, (_, i) => ((i * 379) % 1000) + 1);
    const p = filled(values).percentiles();
    for (const [got, want] of [
      [p.p50, 500],
      [p.p99, 990],
    ] as const) {
      expect(got).not.toBeNull();
      expect(got!).toBeGreaterThanOrEqual(want);
      expect(got!).toBeLessThanOrEqual(want * 1.001 + 0.1);
    }
    expect(p.max).toBe(1000);
  });

  it('counts latencies above 60 s at the top and then reports the exact maximum: pessimistic, never optimistic', () => {
    // Rank 2 is 90 s, counted at 60 s: the percentile says 120 s (the maximum) rather than 60 s.
    expect(filled([10, 90_000, 120_000]).percentiles()).toEqual({ p50: 120_000, p99: 120_000, max: 120_000 });
  });

  it('clamps negative values to 0', () => {
    expect(filled([-5, 0]).percentiles()).toEqual({ p50: 0, p99: 0, max: 0 });
  });
});
