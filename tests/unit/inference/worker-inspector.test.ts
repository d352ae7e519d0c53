import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleMetadataSchema } from '../../../src/inference/bundle.js';
import type { Inspection } from '../../../src/domain/ports.js';
import { WorkerInspector } from '../../../src/inference/worker-inspector.js';
import {
  BUNDLE_DIR,
  captureLogger,
  corruptBundleCopy,
  datasetImages,
  inferenceConfig,
  tempDir,
  writeBadFiles,
  rejection,
} from './helpers.js';

const FAULTY_WORKER = new URL('./fixtures/faulty-worker.ts', import.meta.url);
const never = new AbortController().signal;

const started: WorkerInspector[] = [];
async function startInspector(...args: ConstructorParameters<typeof WorkerInspector>): Promise<WorkerInspector> {
  const inspector = new WorkerInspector(...args);
  started.push(inspector);
  await inspector.start(never);
  return inspector;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((inspector) => inspector.stop()));
});

describe('WorkerInspector on the shipped model and real images', () => {
  let inspector: WorkerInspector;
  let metadata: ReturnType<typeof bundleMetadataSchema.parse>;
  const log = captureLogger();

  beforeAll(async () => {
    metadata = bundleMetadataSchema.parse(JSON.parse(await readFile(path.join(BUNDLE_DIR, 'model.json'), 'utf8')));
    inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig(), logger: log.logger });
    await inspector.start(never);
  });
  afterAll(async () => {
    await inspector.stop();
  });

  it('reports the bundle it verified and the provider actually running it', () => {
    expect(inspector.info).toEqual({
      name: metadata.name,
      version: metadata.version,
      sha256: metadata.onnx.sha256,
      threshold: metadata.decision.threshold,
      executionProvider: 'cpu',
      requestedProviders: ['cpu'],
    });
    expect(log.lines.find((l) => l.msg === 'model ready')).toMatchObject({ executionProvider: 'cpu' });
  });

  it('judges real defective and good castings: no escapes, verdicts at the bundle threshold', async () => {
    const judge = (files: string[]): Promise<Inspection[]> =>
      Promise.all(files.map(async (f) => inspector.inspect(await readFile(f))));
    const defective = await judge(datasetImages('defective', 12));
    const ok = await judge(datasetImages('ok', 12));
    for (const inspection of [...defective, ...ok]) {
      expect(inspection.defectScore).toBeGreaterThanOrEqual(0);
      expect(inspection.defectScore).toBeLessThanOrEqual(1);
      expect(inspection.threshold).toBe(metadata.decision.threshold);
      expect(inspection.verdict).toBe(inspection.defectScore >= inspection.threshold ? 'defective' : 'ok');
      expect(inspection.preprocessMs).toBeGreaterThan(0);
      expect(inspection.inferenceMs).toBeGreaterThan(0);
    }
    // The shipped threshold is chosen for zero escapes; most good castings must still pass.
    expect(defective.filter((i) => i.verdict === 'ok')).toEqual([]);
    expect(ok.filter((i) => i.verdict === 'ok').length).toBeGreaterThanOrEqual(ok.length / 2);
    const mean = (xs: Inspection[]): number => xs.reduce((sum, i) => sum + i.defectScore, 0) / xs.length;
    expect(mean(ok)).toBeLessThan(mean(defective));
  });

  it('times each stage: queue, preprocess, inference and transfer add up to no more than the round trip', async () => {
    const images = await Promise.all(datasetImages('ok', 4).map((f) => readFile(f)));
    const timed = await Promise.all(
      images.map(async (image) => {
        const t0 = performance.now();
        const inspection = await inspector.inspect(image);
        return { inspection, roundTripMs: performance.now() - t0 };
      }),
    );
    for (const { inspection, roundTripMs } of timed) {
      const { queueMs, preprocessMs, inferenceMs, transferMs } = inspection;
      for (const ms of [queueMs, preprocessMs, inferenceMs, transferMs]) expect(ms).toBeGreaterThanOrEqual(0);
      const sum = (queueMs ?? Number.NaN) + preprocessMs + inferenceMs + (transferMs ?? Number.NaN);
      expect(sum).toBeLessThanOrEqual(roundTripMs + 0.01);
    }
    // Four sent at once to one session: the later ones waited for the model, and say so.
    expect(Math.max(...timed.map((t) => t.inspection.queueMs ?? 0))).toBeGreaterThan(0);
  });

  it('gives the same score for the same image every time', async () => {
    const image = await readFile(datasetImages('defective', 1)[0] as string);
    const scores = await Promise.all([1, 2, 3].map(async () => (await inspector.inspect(image)).defectScore));
    expect(new Set(scores).size).toBe(1);
  });

  it('rejects every kind of bad image with its error code and keeps working', async () => {
    const dir = await tempDir('bad-images');
    const good = await readFile(datasetImages('ok', 1)[0] as string);
    const before = await inspector.inspect(good);
    try {
      const expected = await writeBadFiles(dir);
      for (const [name, code] of Object.entries(expected)) {
        const err = await rejection(inspector.inspect(await readFile(path.join(dir, name))));
        expect({ name, code: err.code }).toEqual({ name, code });
      }
      expect((await inspector.inspect(good)).defectScore).toBe(before.defectScore);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does not touch the caller’s buffer', async () => {
    const image = await readFile(datasetImages('ok', 1)[0] as string);
    const before = Buffer.from(image);
    await inspector.inspect(image);
    expect(image.equals(before)).toBe(true);
  });

  it('honours an AbortSignal', async () => {
    const image = await readFile(datasetImages('ok', 1)[0] as string);
    const reference = (await inspector.inspect(image)).defectScore;
    const aborted = new AbortController();
    aborted.abort(new Error('part left the station'));
    expect((await rejection(inspector.inspect(image, aborted.signal))).code).toBe('LS_INFERENCE_FAILED');

    const late = new AbortController();
    const pending = inspector.inspect(image, late.signal);
    late.abort(new Error('deadline'));
    const err = await rejection(pending);
    expect(err.code).toBe('LS_INFERENCE_FAILED');
    expect(err.message).toContain('aborted');
    // The worker is still fine afterwards.
    expect((await inspector.inspect(image)).defectScore).toBe(reference);
  });

  it('keeps the main event loop turning while a batch is inferred in the worker', async () => {
    const files = [...datasetImages('defective', 20), ...datasetImages('ok', 20)];
    const images = await Promise.all(files.map((f) => readFile(f)));
    let ticks = 0;
    const ticksAtResult: number[] = [];
    const timer = setInterval(() => {
      ticks += 1;
    }, 1);
    try {
      // One after another, so the batch spans many model runs; every await returns to the event loop.
      for (const image of images) {
        await inspector.inspect(image);
        ticksAtResult.push(ticks);
      }
    } finally {
      clearInterval(timer);
    }
    // Timer callbacks ran throughout the batch, not just at its end: between most consecutive results.
    const advancing = ticksAtResult.slice(1).filter((t, i) => t > (ticksAtResult[i] as number)).length;
    expect(advancing).toBeGreaterThanOrEqual(images.length / 2);
  });
});

describe('WorkerInspector refusing to arm', () => {
  it('refuses a bundle whose model fails its sha256 (LS_MODEL_CHECKSUM)', async () => {
    const dir = await corruptBundleCopy();
    try {
      const inspector = new WorkerInspector({ bundleDir: dir, inference: inferenceConfig() });
      const err = await rejection(inspector.start(never));
      expect(err.code).toBe('LS_MODEL_CHECKSUM');
      expect((await rejection(inspector.inspect(Buffer.from('x')))).code).toBe('LS_INFERENCE_FAILED');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing bundle (LS_MODEL_MISSING)', async () => {
    const inspector = new WorkerInspector({
      bundleDir: path.join(BUNDLE_DIR, 'no-such-bundle'),
      inference: inferenceConfig(),
    });
    expect((await rejection(inspector.start(never))).code).toBe('LS_MODEL_MISSING');
  });

  it('refuses a model that is not ONNX even when its checksum matches (LS_MODEL_INVALID)', async () => {
    const dir = await corruptBundleCopy();
    try {
      const metadataPath = path.join(dir, 'model.json');
      const meta = JSON.parse(await readFile(metadataPath, 'utf8')) as {
        onnx: { file: string; sha256: string; bytes: number };
      };
      const garbage = Buffer.from('definitely not a protobuf model '.repeat(8));
      await writeFile(path.join(dir, meta.onnx.file), garbage);
      const { createHash } = await import('node:crypto');
      meta.onnx.sha256 = createHash('sha256').update(garbage).digest('hex');
      meta.onnx.bytes = garbage.length;
      await writeFile(metadataPath, JSON.stringify(meta));
      const inspector = new WorkerInspector({ bundleDir: dir, inference: inferenceConfig() });
      expect((await rejection(inspector.start(never))).code).toBe('LS_MODEL_INVALID');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with require_gpu when only the CPU can run the model (LS_EP_UNAVAILABLE)', async () => {
    const inspector = new WorkerInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ execution_providers: ['cuda', 'cpu'], require_gpu: true }),
    });
    const err = await rejection(inspector.start(never));
    expect(err.code).toBe('LS_EP_UNAVAILABLE');
    expect(err.message).toContain('cuda');
  });

  it('honours the start signal', async () => {
    const inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig() });
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(inspector.start(controller.signal)).rejects.toThrow('shutting down');
  });
});

describe('WorkerInspector execution providers on this machine', () => {
  it('falls back from cuda (compiled in, libraries missing) to cpu with a warning, and reports cpu', async () => {
    const log = captureLogger();
    const inspector = await startInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ execution_providers: ['cuda', 'cpu'] }),
      logger: log.logger,
    });
    expect(inspector.info.executionProvider).toBe('cpu');
    expect(inspector.info.requestedProviders).toEqual(['cuda', 'cpu']);
    expect(inspector.providerAttempts.map((a) => [a.provider, a.outcome])).toEqual([
      ['cuda', 'failed'],
      ['cpu', 'opened'],
    ]);
    expect(inspector.providerAttempts[0]?.reason).toContain('libonnxruntime_providers_cuda.so');
    const warning = log.lines.find((l) => l.level === 40 && l.msg.includes('fallback'));
    expect(warning?.attempts).toContain('cuda: failed');
    const image = await readFile(datasetImages('defective', 1)[0] as string);
    expect((await inspector.inspect(image)).verdict).toBe('defective');
  });

  it('refuses when the only provider asked for cannot be used (LS_EP_UNAVAILABLE)', async () => {
    const inspector = new WorkerInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ execution_providers: ['tensorrt'] }),
    });
    expect((await rejection(inspector.start(never))).code).toBe('LS_EP_UNAVAILABLE');
  });
});

describe('WorkerInspector supervision', () => {
  it('fails the in-flight request when the worker dies, restarts it and keeps going', async () => {
    const log = captureLogger();
    const inspector = await startInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ timeout_ms: 10_000 }),
      logger: log.logger,
      workerUrl: FAULTY_WORKER,
    });
    const image = await readFile(datasetImages('defective', 1)[0] as string);
    const err = await rejection(inspector.inspect(Buffer.from('DIE')));
    expect(err.code).toBe('LS_INFERENCE_WORKER_DIED');
    expect(log.lines.some((l) => l.level === 50 && l.code === 'LS_INFERENCE_WORKER_DIED')).toBe(true);
    expect((await inspector.inspect(image)).verdict).toBe('defective');
    expect(log.lines.some((l) => l.msg === 'inference worker restarted')).toBe(true);
  });

  it('times a request out at timeout_ms, then replaces a worker that stays hung', async () => {
    const log = captureLogger();
    const inspector = await startInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ timeout_ms: 200 }),
      logger: log.logger,
      workerUrl: FAULTY_WORKER,
      hangAfterMs: 800,
    });
    const image = await readFile(datasetImages('ok', 1)[0] as string);
    const reference = (await inspector.inspect(image)).defectScore;
    const hung = await rejection(inspector.inspect(Buffer.from('HANG')));
    expect(hung.code).toBe('LS_INFERENCE_FAILED');
    expect(hung.message).toContain('timeout_ms');
    // Queued behind the hung call: times out too (fail-safe), it is not lost.
    expect((await rejection(inspector.inspect(image))).code).toBe('LS_INFERENCE_FAILED');
    await expect
      .poll(() => log.lines.some((l) => l.msg === 'inference worker restarted'), { timeout: 10_000 })
      .toBe(true);
    expect(log.lines.find((l) => l.code === 'LS_INFERENCE_WORKER_DIED')?.reason).toContain('hung');
    expect((await inspector.inspect(image)).defectScore).toBe(reference);
  });

  it('fails requests held by a hung worker with LS_INFERENCE_WORKER_DIED when that comes before their timeout', async () => {
    const inspector = await startInspector({
      bundleDir: BUNDLE_DIR,
      inference: inferenceConfig({ timeout_ms: 20_000 }),
      workerUrl: FAULTY_WORKER,
      hangAfterMs: 500,
    });
    const image = await readFile(datasetImages('ok', 1)[0] as string);
    const reference = (await inspector.inspect(image)).defectScore;
    const results = await Promise.allSettled([inspector.inspect(Buffer.from('HANG')), inspector.inspect(image)]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'LS_INFERENCE_WORKER_DIED' });
    }
    await expect
      .poll(async () => (await inspector.inspect(image).catch(() => undefined))?.defectScore, { timeout: 10_000 })
      .toBe(reference);
  });

  it('stop() ends the worker; later requests are refused rather than lost', async () => {
    const inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig() });
    await inspector.start(never);
    const image = await readFile(datasetImages('ok', 1)[0] as string);
    const inFlight = inspector.inspect(image);
    await inspector.stop();
    // Drained within the timeout: the request in flight still got its answer.
    expect((await inFlight).defectScore).toBeGreaterThanOrEqual(0);
    expect((await rejection(inspector.inspect(image))).code).toBe('LS_INFERENCE_FAILED');
    await inspector.stop();
  });
});
