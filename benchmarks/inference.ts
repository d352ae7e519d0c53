/**
 * Inference: how long does the shipped model take per image on this CPU, and what does running it in the
 * worker cost the main event loop (the one that times the reject gate)?
 *
 *   node --import tsx benchmarks/inference.ts [--images 400] [--model models/casting-cnn]
 *
 * Real model, real images (the first N/2 of each class of ../shared/casting/train, read in place), one
 * onnxruntime thread (intra_op_threads 1), CPU provider. Three runs:
 *   1. preprocess: A1's sharp preprocessing of each JPEG to model pixels, one image at a time.
 *   2. baseline, main thread: the same session code (openSession) on the main thread, each preprocessed image
 *      run one after another: "inference alone" per image, and the event-loop stall it causes; then the whole
 *      path (sharp decode + session) from the main thread, i.e. what the daemon would do without a worker.
 *   3. worker: WorkerInspector.inspect(jpeg) one image at a time (round trip: transfer, decode, preprocess,
 *      inference, reply) and then 4 in flight (throughput); inference alone as timed inside the worker.
 * "Inference alone" right after a decode costs more than back to back (caches and the decoder's threads), on
 * either thread: the rows "after decode" separate that from any cost of the worker itself.
 * Event-loop stall = the largest delay monitorEventLoopDelay saw while the run was going (resolution 1 ms),
 * next to the largest gap between 1 ms interval ticks.
 */
import { readFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inferenceSection } from '../src/config/sections/inference.js';
import { loadBundle } from '../src/inference/bundle.js';
import { preprocess, toInputTensorData } from '../src/inference/preprocess.js';
import { openSession } from '../src/inference/session.js';
import { WorkerInspector } from '../src/inference/worker-inspector.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '400' },
    model: { type: 'string', default: path.join(ROOT, 'models', 'casting-cnn') },
  },
});
const IMAGES = Number(values.images);
const DATASET = path.resolve(ROOT, '..', 'shared', 'casting', 'train');
const TARGET_INFERENCE_MS = 1.5;

interface Stats {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    n: sorted.length,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.at(-1) ?? NaN,
  };
}

/** Runs `work` while watching the event loop: the largest scheduling delay and the largest gap between 1 ms ticks. */
async function watchingLoop<T>(
  work: () => Promise<T>,
): Promise<{ result: T; stallMs: number; p99DelayMs: number; maxTickGapMs: number; wallMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let maxTickGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxTickGapMs = Math.max(maxTickGapMs, now - last);
    last = now;
  }, 1);
  histogram.enable();
  const started = performance.now();
  try {
    const result = await work();
    return {
      result,
      stallMs: histogram.max / 1e6,
      p99DelayMs: histogram.percentile(99) / 1e6,
      maxTickGapMs,
      wallMs: performance.now() - started,
    };
  } finally {
    histogram.disable();
    clearInterval(ticker);
  }
}

function datasetFiles(count: number): string[] {
  const per = Math.ceil(count / 2);
  return ['def_front', 'ok_front'].flatMap((folder) =>
    readdirSync(path.join(DATASET, folder))
      .sort()
      .slice(0, per)
      .map((name) => path.join(DATASET, folder, name)),
  );
}

const fmt = (v: number): string => v.toFixed(3).padStart(8);
const row = (label: string, s: Stats): string =>
  `${label.padEnd(46)}${fmt(s.p50)}${fmt(s.p99)}${fmt(s.mean)}${fmt(s.max)}${String(s.n).padStart(7)}`;

function loopRow(
  label: string,
  run: { stallMs: number; p99DelayMs: number; maxTickGapMs: number; wallMs: number },
  images: number,
  what: string,
): string {
  const rate = Math.round(images / (run.wallMs / 1000));
  return `${label.padEnd(46)}${run.p99DelayMs.toFixed(2).padStart(10)}${run.stallMs.toFixed(2).padStart(10)}${run.maxTickGapMs.toFixed(2).padStart(14)}${String(rate).padStart(10)}  (${what})`;
}

async function main(): Promise<void> {
  const bundle = await loadBundle(values.model);
  const { metadata } = bundle;
  const files = datasetFiles(IMAGES);
  const jpegs = await Promise.all(files.map((f) => readFile(f)));
  const inference = inferenceSection.parse({
    execution_providers: ['cpu'],
    intra_op_threads: 1,
    warmup_runs: 20,
    timeout_ms: 60_000,
  });

  // 1. Preprocessing alone (main thread; it is the same code the worker runs).
  const spec = metadata.preprocess;
  for (const jpeg of jpegs.slice(0, 20)) await preprocess(jpeg, spec, { maxInputPixels: inference.max_input_pixels });
  const preprocessMs: number[] = [];
  const inputs: Float32Array[] = [];
  for (const jpeg of jpegs) {
    const t0 = performance.now();
    const { pixels } = await preprocess(jpeg, spec, { maxInputPixels: inference.max_input_pixels });
    preprocessMs.push(performance.now() - t0);
    inputs.push(toInputTensorData(pixels));
  }

  // 2. Baseline: the session on the main thread.
  const session = await openSession({
    model: {
      onnxBytes: bundle.onnxBytes,
      inputName: metadata.input.name,
      outputName: metadata.output.name,
      width: spec.width,
      height: spec.height,
    },
    providers: ['cpu'],
    requireGpu: false,
    intraOpThreads: 1,
    warn: () => undefined,
  });
  for (const input of inputs.slice(0, 20)) await session.run(input);
  const mainInferenceMs: number[] = [];
  const mainScores: number[] = [];
  const main = await watchingLoop(async () => {
    for (const input of inputs) {
      const t0 = performance.now();
      mainScores.push(await session.run(input));
      mainInferenceMs.push(performance.now() - t0);
    }
  });
  // 2b. Baseline for the whole path without a worker: sharp decode + the session, both from the main thread.
  const mainAfterDecodeMs: number[] = [];
  const mainFull = await watchingLoop(async () => {
    for (const jpeg of jpegs) {
      const { pixels } = await preprocess(jpeg, spec, { maxInputPixels: inference.max_input_pixels });
      const t0 = performance.now();
      await session.run(toInputTensorData(pixels));
      mainAfterDecodeMs.push(performance.now() - t0);
    }
  });
  await session.release();

  // 3. The worker, as the daemon uses it.
  const inspector = new WorkerInspector({ bundleDir: values.model, inference });
  await inspector.start(new AbortController().signal);
  for (const jpeg of jpegs.slice(0, 20)) await inspector.inspect(jpeg);
  const roundTripMs: number[] = [];
  const workerInferenceMs: number[] = [];
  const workerPreprocessMs: number[] = [];
  let disagreements = 0;
  const sequential = await watchingLoop(async () => {
    for (const [i, jpeg] of jpegs.entries()) {
      const t0 = performance.now();
      const inspection = await inspector.inspect(jpeg);
      roundTripMs.push(performance.now() - t0);
      workerInferenceMs.push(inspection.inferenceMs);
      workerPreprocessMs.push(inspection.preprocessMs);
      if (Math.abs(inspection.defectScore - (mainScores[i] as number)) > 1e-6) disagreements += 1;
    }
  });
  const pipelined = await watchingLoop(async () => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < jpegs.length) await inspector.inspect(jpegs[next++] as Buffer);
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  });
  await inspector.stop();

  const infer = stats(mainInferenceMs);
  const workerInfer = stats(workerInferenceMs);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out = [
    `model ${metadata.name} ${metadata.version} (${metadata.preprocess.width}x${metadata.preprocess.height}, ${metadata.architecture.macs} MACs), ${jpegs.length} real images`,
    `${cpu}, ${cpus().length} cores, load ${loadavg()[0]?.toFixed(2)}; onnxruntime cpu, intra_op_threads 1; node ${process.version}`,
    '',
    `${'milliseconds per image'.padEnd(46)}${'p50'.padStart(8)}${'p99'.padStart(8)}${'mean'.padStart(8)}${'max'.padStart(8)}${'n'.padStart(7)}`,
    row('preprocess (sharp decode+grey+resize)', stats(preprocessMs)),
    row('inference alone, main-thread session', infer),
    row('inference alone, main thread, after decode', stats(mainAfterDecodeMs)),
    row('inference alone, in the worker (after decode)', workerInfer),
    row('preprocess, in the worker', stats(workerPreprocessMs)),
    row('worker round trip (inspect(), 1 in flight)', stats(roundTripMs)),
    '',
    `${'event loop while running (ms)'.padEnd(46)}${'p99 delay'.padStart(10)}${'max stall'.padStart(10)}${'max tick gap'.padStart(14)}${'images/s'.padStart(10)}`,
    loopRow('main thread: session only (baseline)', main, jpegs.length, 'inference only'),
    loopRow('main thread: sharp + session (no worker)', mainFull, jpegs.length, 'decode+preprocess+inference'),
    loopRow('worker, 1 in flight', sequential, jpegs.length, 'decode+preprocess+inference'),
    loopRow('worker, 4 in flight', pipelined, jpegs.length, 'decode+preprocess+inference'),
    '',
    `scores worker vs main-thread session: ${disagreements === 0 ? 'identical' : `${disagreements} differ by > 1e-6`}`,
    `target: inference alone <= ${TARGET_INFERENCE_MS} ms/image (main-thread session, p50): ` +
      `${infer.p50 <= TARGET_INFERENCE_MS ? 'met' : 'NOT met'} (p50 ${infer.p50.toFixed(3)} ms, mean ${infer.mean.toFixed(3)} ms; ` +
      `in the worker after a decode p50 ${workerInfer.p50.toFixed(3)} ms, mean ${workerInfer.mean.toFixed(3)} ms)`,
    ...((loadavg()[0] ?? 0) > cpus().length
      ? [
          `note: load average ${loadavg()[0]?.toFixed(2)} on ${cpus().length} cores: other processes preempt these threads; means and p99 are inflated`,
        ]
      : []),
  ];
  console.log(out.join('\n'));
}

await main();
