import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchResults } from '../../../src/bench/bench.js';
import type { LineRun } from '../../../src/bench/line.js';
import { writeLineConfig } from '../../../src/bench/line-config.js';
import { table, toJson } from '../../../src/bench/report.js';
import { loadConfig } from '../../../src/config/load.js';

function lineRun(over: Partial<LineRun> = {}): LineRun {
  return {
    partsPerSecond: 20,
    requested: 3,
    parts: 3,
    verdictMs: [5, 6, 7],
    stagesMs: [{ capture: 1, preprocess: 4, inference: 0.5, queue: 0, transfer: 0.3 }],
    failsafe: {},
    lost: 0,
    startMs: 900,
    executionProvider: 'cpu',
    resources: [
      { parts: 0, rssMb: 180, lagP99Ms: 0 },
      { parts: 3, rssMb: 181, lagP99Ms: 2 },
    ],
    wallS: 1,
    cpuMsPerPart: 3,
    ...over,
  };
}

function results(baseline: BenchResults['baseline']): BenchResults {
  return {
    quick: true,
    machine: { cpus: 2, cpu: 'test', loadavg: [1, 1, 1], node: 'v20' },
    latency: lineRun(),
    search: { sustained: lineRun({ partsPerSecond: 100 }), trials: [] },
    gate: { errorMs: [0.01, 0.02], realtime: true, threads: 1 },
    baseline,
    inspector: [{ inFlight: 1, pps: 200, preprocessMs: [2], inferenceMs: [0.5], scores: [0.1] }],
    coldStartMs: 1200,
  };
}

describe('bench report', () => {
  it('gives the ratio from a baseline that ran, and null, with the install hint, when it could not', () => {
    const ran = toJson(
      results({
        available: true,
        torch: '1.13',
        runs: [],
        best: { threads: 1, pps: 50, preprocess_p50_ms: 1, inference_p50_ms: 6, scores: [] },
      }),
    );
    expect(ran).toMatchObject({ pps: 100, baseline_pps: 50, ratio: 2, execution_provider: 'cpu' });
    const missing = toJson(results({ available: false, why: 'apt-get install -y python3-torch python3-pil' }));
    expect(missing.ratio).toBeNull();
    expect(missing.baseline_pps).toBeNull();
    expect(table(missing).join('\n')).toContain('apt-get install -y python3-torch python3-pil');
    for (const key of ['pps', 'p50_ms', 'p99_ms', 'gate_err_p999_ms', 'rss_mb', 'baseline_pps', 'ratio'])
      expect(missing).toHaveProperty(key);
  });
});

describe('the bench line config', () => {
  it("is the demo's, valid, with the interval and only what the interval forces changed", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lineside-bench-test-'));
    try {
      const slow = loadConfig(await writeLineConfig({ partsPerSecond: 2, dir, port: 18_831 })).config;
      expect(slow.gpio).toMatchObject({ type: 'sim', part_interval_ms: 500, part_length_ms: 40 });
      expect(slow.trigger.min_spacing_ms).toBe(100);
      expect(slow.gate).toMatchObject({ pulse_ms: 60, min_gap_ms: 20, spin_ms: 2 });
      const fast = loadConfig(await writeLineConfig({ partsPerSecond: 400, dir, port: 18_831 })).config;
      expect(fast.gpio).toMatchObject({ part_interval_ms: 2.5, part_length_ms: 1.25 });
      expect(fast.trigger.min_spacing_ms).toBe(1.25);
      expect(fast.gate).toMatchObject({ pulse_ms: 1, min_gap_ms: 0.5 });
      expect(fast.pipeline.max_in_flight).toBe(slow.pipeline.max_in_flight);
      expect(fast.mqtt).toMatchObject({ url: 'embedded', embedded_port: 18_831, outbox_dir: path.join(dir, 'outbox') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
