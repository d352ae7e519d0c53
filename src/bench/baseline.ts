/** (e) The seed-style Python baseline (training/seed_baseline.py), and lineside's inspector on the same images. */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { inferenceSection } from '../config/sections/inference.js';
import { errorMessage } from '../errors.js';
import { WorkerInspector } from '../inference/worker-inspector.js';
import { DATASET, PROJECT_ROOT } from './line-config.js';

export const PYTHON = '/usr/bin/python3';
export const INSTALL_HINT = 'apt-get install -y python3-torch python3-pil (Debian 12), then rerun lineside bench';
export const BUNDLE_DIR = path.join(PROJECT_ROOT, 'models', 'casting-cnn');

/** The first count/2 images of each class, in name order. */
export function benchImages(count: number): string[] {
  const per = Math.ceil(count / 2);
  return ['def_front', 'ok_front'].flatMap((cls) =>
    readdirSync(path.join(DATASET, cls))
      .sort()
      .slice(0, per)
      .map((f) => path.join(DATASET, cls, f)),
  );
}

export interface BaselineRun {
  threads: number;
  pps: number;
  preprocess_p50_ms: number;
  inference_p50_ms: number;
  scores: number[];
}

export type Baseline =
  { available: true; torch: string; best: BaselineRun; runs: BaselineRun[] } | { available: false; why: string };

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

/** PIL + torch, one image at a time, at 1 and 2 torch threads; the best thread count is the baseline. */
export async function pythonBaseline(files: string[], dir: string, warmup = 20): Promise<Baseline> {
  try {
    // find_spec: whether they are installed, without paying for importing torch twice.
    const check =
      "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('torch', 'PIL', 'numpy')) else 1)";
    await run(PYTHON, ['-c', check], 60_000);
  } catch {
    return { available: false, why: `${PYTHON} cannot import torch, PIL and numpy: ${INSTALL_HINT}` };
  }
  const list = path.join(dir, 'baseline-images.txt');
  writeFileSync(list, files.join('\n'));
  const script = path.join(PROJECT_ROOT, 'training', 'seed_baseline.py');
  try {
    const args = [script, '--bundle', BUNDLE_DIR, '--list', list, '--threads', '1,2', '--warmup', String(warmup)];
    const out = await run(PYTHON, args, 600_000);
    const parsed = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { torch: string; runs: BaselineRun[] };
    const best = parsed.runs.reduce((a, b) => (b.pps > a.pps ? b : a));
    return { available: true, torch: parsed.torch, best, runs: parsed.runs };
  } catch (err) {
    // A baseline that could not run is reported as missing, never guessed.
    return { available: false, why: `training/seed_baseline.py failed: ${errorMessage(err).slice(0, 500)}` };
  }
}

export interface InspectorRun {
  inFlight: number;
  pps: number;
  preprocessMs: number[];
  inferenceMs: number[];
  scores: number[];
}

/** lineside's WorkerInspector (the daemon's) on the same images, `inFlight` at a time. */
export async function inspectorRuns(files: string[], inFlights: number[]): Promise<InspectorRun[]> {
  const images = files.map((f) => readFileSync(f));
  const inference = inferenceSection.parse({ execution_providers: ['cpu'] });
  const inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference });
  await inspector.start(new AbortController().signal);
  const runs: InspectorRun[] = [];
  try {
    for (const image of images.slice(0, 20)) await inspector.inspect(image);
    for (const inFlight of inFlights) {
      const r: InspectorRun = { inFlight, pps: 0, preprocessMs: [], inferenceMs: [], scores: [] };
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < images.length) {
          const i = next++;
          const inspection = await inspector.inspect(images[i] as Buffer);
          r.preprocessMs.push(inspection.preprocessMs);
          r.inferenceMs.push(inspection.inferenceMs);
          r.scores[i] = inspection.defectScore;
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: inFlight }, lane));
      r.pps = images.length / ((performance.now() - t0) / 1000);
      runs.push(r);
    }
  } finally {
    await inspector.stop();
  }
  return runs;
}
