/** `lineside bench`: every measurement of issue 14 in one run, gathered into one report. */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { benchImages, inspectorRuns, pythonBaseline, type Baseline, type InspectorRun } from './baseline.js';
import { coldStartMs } from './cold-start.js';
import { measureGateError, type GateError } from './gate-load.js';
import { runLine, type LineRun } from './line.js';
import { demoGate } from './line-config.js';
import { searchRate, type RateSearch, type RateSearchOptions } from './rate-search.js';

export interface BenchProfile {
  latency: { partsPerSecond: number; parts: number };
  search: RateSearchOptions;
  gate: { events: number; spacingMs: number };
  images: number;
}

export const PROFILES: Record<'full' | 'quick', BenchProfile> = {
  full: {
    latency: { partsPerSecond: 20, parts: 1000 },
    search: {
      ladder: [25, 50, 100, 200, 300, 400, 500, 600, 800],
      trialS: 6,
      bisectSteps: 2,
      confirmS: 60,
      confirmTries: 2,
    },
    gate: { events: 2000, spacingMs: 5 },
    images: 1000,
  },
  quick: {
    latency: { partsPerSecond: 20, parts: 60 },
    search: { ladder: [25, 100], trialS: 2, bisectSteps: 0, confirmS: 4, confirmTries: 1 },
    gate: { events: 400, spacingMs: 5 },
    images: 40,
  },
};

export interface BenchResults {
  quick: boolean;
  machine: { cpus: number; cpu: string; loadavg: number[]; node: string };
  latency: LineRun;
  search: RateSearch;
  gate: GateError;
  baseline: Baseline;
  inspector: InspectorRun[];
  coldStartMs: number | null;
}

export type Progress = (message: string) => void;

/** The measurements one after another (never two at once: each would load the other's CPUs). */
export async function runBench(quick: boolean, progress: Progress): Promise<BenchResults> {
  const profile = PROFILES[quick ? 'quick' : 'full'];
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
    node: process.version,
  };
  progress(`cold start: a fresh lineside run process to READY`);
  const cold = await coldStartMs();
  progress(`(a) trigger to verdict: ${profile.latency.parts} parts at ${profile.latency.partsPerSecond} parts/s`);
  const latency = await runLine(profile.latency);
  progress(
    `(b) highest sustained rate: ladder ${profile.search.ladder.join(', ')} parts/s, ${profile.search.trialS} s trials`,
  );
  const search = await searchRate(profile.search, (options) => {
    progress(`    trying ${options.partsPerSecond} parts/s for ${options.parts} parts`);
    return runLine(options);
  });
  progress(
    `(c) gate edge error: ${profile.gate.events} rejects at ${1000 / profile.gate.spacingMs} parts/s, event loop loaded`,
  );
  const { spin_ms: spinMs, rt_priority: rtPriority, threads } = await demoGate();
  const gate = await measureGateError({ ...profile.gate, spinMs, rtPriority, threads });
  const files = benchImages(profile.images);
  progress(`(e) lineside's inspector on ${files.length} images, 1 and 4 in flight`);
  const inspector = await inspectorRuns(files, [1, 4]);
  progress(`(e) seed-style Python baseline (PIL + torch) on the same ${files.length} images, 1 and 2 torch threads`);
  const dir = await mkdtemp(path.join(tmpdir(), 'lineside-bench-py-'));
  let baseline: Baseline;
  try {
    baseline = await pythonBaseline(files, dir, quick ? 5 : 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { quick, machine, latency, search, gate, baseline, inspector, coldStartMs: cold };
}
