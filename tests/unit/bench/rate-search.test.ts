import { describe, expect, it } from 'vitest';
import type { LineRun, LineRunOptions } from '../../../src/bench/line.js';
import { held, searchRate } from '../../../src/bench/rate-search.js';
import { percentile, slope } from '../../../src/bench/stats.js';

/** A line that holds every rate up to `limit` parts/s and overruns above it. */
function fakeLine(limit: number, calls: LineRunOptions[]): (o: LineRunOptions) => Promise<LineRun> {
  return (options) => {
    calls.push(options);
    const failsafe: Record<string, number> = options.partsPerSecond > limit ? { overrun: 3 } : {};
    return Promise.resolve({
      partsPerSecond: options.partsPerSecond,
      requested: options.parts,
      parts: options.parts,
      verdictMs: [],
      stagesMs: [],
      failsafe,
      lost: 0,
      startMs: 0,
      executionProvider: 'cpu',
      resources: [],
      wallS: 1,
      cpuMsPerPart: 1,
    });
  };
}

const options = { ladder: [25, 50, 100, 200, 400], trialS: 2, bisectSteps: 3, confirmS: 60, confirmTries: 2 };

describe('searchRate', () => {
  it('climbs the ladder, bisects between the last rate held and the first failed, and confirms for confirmS', async () => {
    const calls: LineRunOptions[] = [];
    const result = await searchRate(options, fakeLine(130, calls));
    expect(calls.map((c) => c.partsPerSecond)).toEqual([25, 50, 100, 200, 150, 125, 138, 125]);
    expect(result.sustained?.partsPerSecond).toBe(125);
    expect(calls.at(-1)?.parts).toBe(125 * 60);
    expect(result.trials.map((t) => t.held)).toEqual([true, true, true, false, false, true, false, true]);
  });

  it('reports nothing sustained when even the lowest rate fails, rather than a rate it never held', async () => {
    const result = await searchRate(options, fakeLine(0, []));
    expect(result.sustained).toBeUndefined();
    expect(result.trials.every((t) => !t.held)).toBe(true);
  });

  it('searches below the ladder when its first rate fails', async () => {
    const result = await searchRate(options, fakeLine(10, []));
    expect(result.sustained?.partsPerSecond).toBe(10);
  });

  it('counts lost verdicts and missing parts as failures', () => {
    const run = (over: Partial<LineRun>): LineRun => ({
      partsPerSecond: 1,
      requested: 10,
      parts: 10,
      verdictMs: [],
      stagesMs: [],
      failsafe: {},
      lost: 0,
      startMs: 0,
      executionProvider: 'cpu',
      resources: [],
      wallS: 1,
      cpuMsPerPart: 1,
      ...over,
    });
    expect(held(run({}))).toBe(true);
    expect(held(run({ lost: 1 }))).toBe(false);
    expect(held(run({ parts: 9 }))).toBe(false);
    expect(held(run({ failsafe: { late: 1 } }))).toBe(false);
  });
});

describe('bench statistics', () => {
  it('nearest-rank percentiles and a least-squares slope', () => {
    const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect([50, 99, 99.9].map((p) => percentile(sorted, p))).toEqual([500, 990, 999]);
    expect(percentile([], 50)).toBeNaN();
    expect(
      slope([
        { x: 0, y: 100 },
        { x: 10_000, y: 102 },
        { x: 20_000, y: 104 },
      ]) * 10_000,
    ).toBeCloseTo(2, 9);
  });
});
