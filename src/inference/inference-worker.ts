/**
 * The inference worker thread: owns the onnxruntime session and runs decoding, preprocessing and the model,
 * so onnxruntime's blocking run() and sharp's JS-side work never stall the main event loop that times the gate.
 * Spawned by WorkerInspector; speaks the messages in worker-protocol.ts.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { errorCode, errorMessage } from '../errors.js';
import { normaliseCam } from './cam.js';
import { preprocess, toInputTensorData } from './preprocess.js';
import { openSession, type OpenedSession } from './session.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('inference-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;

function send(message: FromWorker): void {
  port?.postMessage(message);
}

const inFlight = new Set<number>();
const cancelled = new Set<number>();
// Runs go one after another: the binding's run() is synchronous anyway, and serialising keeps inferenceMs
// the model's own time rather than time spent queued behind another image.
let inferenceChain: Promise<unknown> = Promise.resolve();

const ready: Promise<OpenedSession | undefined> = (async () => {
  try {
    const session = await openSession({
      model: init.model,
      providers: init.providers,
      providerConfigs: init.providerConfigs,
      requireGpu: init.requireGpu,
      intraOpThreads: init.intraOpThreads,
      warn: (msg, fields) => send({ type: 'log', level: 'warn', msg, fields }),
    });
    // Warm up the whole path, decoder included: the first real part must not pay for libvips' first decode.
    const blank = await sharp({
      create: { width: 300, height: 300, channels: 3, background: { r: 128, g: 128, b: 128 } },
    })
      .jpeg()
      .toBuffer();
    const started = performance.now();
    for (let i = 0; i < init.warmupRuns; i++) {
      const { pixels } = await preprocess(blank, init.preprocess, { maxInputPixels: init.maxInputPixels });
      await session.run(toInputTensorData(pixels));
    }
    const warmupMs = performance.now() - started;
    // After warm-up, on the provider in use: what the self-test compares with the bundle's expected scores.
    const probeScores: number[] = [];
    for (const pixels of init.probes) probeScores.push(await session.run(toInputTensorData(pixels)));
    send({
      type: 'ready',
      executionProvider: session.executionProvider,
      attempts: session.attempts,
      nodeCounts: session.nodeCounts,
      warmupMs,
      probeScores,
    });
    return session;
  } catch (err) {
    send({ type: 'init-failed', code: errorCode(err), message: errorMessage(err) });
    return undefined;
  }
})();

async function inspect(id: number, image: Uint8Array, withCam: boolean, arrivedMs: number): Promise<FromWorker> {
  const session = await ready;
  if (session === undefined) {
    return {
      type: 'failed',
      id,
      code: 'LS_INFERENCE_FAILED',
      message: 'the model did not load in the inference worker',
    };
  }
  if (cancelled.has(id)) return { type: 'cancelled', id };
  const t0 = performance.now();
  const { pixels } = await preprocess(image, init.preprocess, { maxInputPixels: init.maxInputPixels });
  const input = toInputTensorData(pixels);
  const t1 = performance.now();
  if (cancelled.has(id)) return { type: 'cancelled', id };
  const run = inferenceChain.then(async () => {
    if (cancelled.has(id)) return undefined;
    const started = performance.now();
    const queueMs = started - t1;
    if (!withCam) return { defectScore: await session.run(input), queueMs, inferenceMs: performance.now() - started };
    const { score, cam } = await session.explain(input);
    return { defectScore: score, queueMs, inferenceMs: performance.now() - started, heatmap: normaliseCam(cam) };
  });
  inferenceChain = run.catch(() => undefined);
  const outcome = await run;
  if (outcome === undefined) return { type: 'cancelled', id };
  return {
    type: 'result',
    id,
    preprocessMs: t1 - t0,
    ...outcome,
    // The wait for the model and any wait before preprocessing (the session still loading).
    queueMs: outcome.queueMs + (t0 - arrivedMs),
    workerMs: performance.now() - arrivedMs,
  };
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    // The reply may already be on its way; remembering a finished id would only leak.
    if (inFlight.has(message.id)) cancelled.add(message.id);
    return;
  }
  const { id, image, cam } = message;
  inFlight.add(id);
  inspect(id, image, cam, performance.now())
    .catch((err: unknown): FromWorker => {
      const code = errorCode(err);
      return {
        type: 'failed',
        id,
        code: code === 'LS_INTERNAL' ? 'LS_INFERENCE_FAILED' : code,
        message: errorMessage(err),
      };
    })
    .then(
      (reply) => {
        inFlight.delete(id);
        cancelled.delete(id);
        if (reply.type === 'result' && reply.heatmap !== undefined) port.postMessage(reply, [reply.heatmap.buffer]);
        else send(reply);
      },
      () => undefined,
    );
});
