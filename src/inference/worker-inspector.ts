import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
// sharp's docs: load it on the main thread too, so libvips stays loaded when a worker that used it exits.
import 'sharp';
import type { InferenceConfig } from '../config/sections/inference.js';
import { LinesideError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { siblingModule, startWorker } from '../worker.js';
import { loadBundle, type ModelBundle } from './bundle.js';
import type { ProviderAttempt } from './providers.js';
import type { Explanation, Inspection, Inspector, ModelInfo } from '../domain/ports.js';
import { probeProblems, runSelfTest, selfTestError, type SelfTestReport } from './selftest.js';
import { pendingRequest, type Pending } from './pending-request.js';
import { untilAborted } from './until-aborted.js';
import { workerInit } from './worker-init.js';
import { workerResult, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.js';

export interface WorkerInspectorDeps {
  /** Model bundle directory (model.json + .onnx), verified before anything loads it. */
  bundleDir: string;
  inference: InferenceConfig;
  logger?: Logger;
  /** The worker's entry module; tests substitute one that can be made to crash or hang. */
  workerUrl?: URL;
  /**
   * Milliseconds a worker with requests outstanding may stay silent before it is declared hung, terminated
   * and replaced. Default: the larger of 5 x `timeout_ms` and 5000.
   */
  hangAfterMs?: number;
  /** `model.selftest_dir`, resolved: golden parts inspected before start() resolves (the self-test). */
  selftestDir?: string;
}

type WorkerResult = ReturnType<typeof workerResult> & { heatmap?: Float32Array<ArrayBuffer> };

type ReadyMessage = Extract<FromWorker, { type: 'ready' }>;

/** Settles a worker's `ready` promise: from its first 'ready' message, or from its failure to load. */
interface Readiness {
  markReady: (message: ReadyMessage) => void;
  failReady: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  generation: number;
  pending: Map<number, Pending<WorkerResult>>;
  /** performance.now() of the worker's last message, or of the oldest request sent since then. */
  lastSignOfLifeMs: number;
  hangCheck: NodeJS.Timeout;
  ready: Promise<ReadyMessage>;
  isReady: boolean;
  /** No longer the live worker: exited, hung, failed to initialise or stopped. */
  retired: boolean;
  lastError?: unknown;
}

type State = 'idle' | 'starting' | 'running' | 'stopping';

const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The Inspector the daemon and the CLI use: one worker thread owns the onnxruntime session and does
 * decoding, preprocessing and inference, so nothing on the main thread waits for the model.
 *
 * The worker is supervised: a worker that exits, or stays silent with work outstanding for `hangAfterMs`,
 * has its in-flight requests failed with LS_INFERENCE_WORKER_DIED and is replaced by a fresh one (from the
 * same verified model bytes); repeated failures back off up to 30 s. Each request has its own
 * `inference.timeout_ms` deadline and may be cancelled with an AbortSignal.
 *
 * start() ends with the self-test before arming (docs/gpu.md): the bundle's pinned probes, run by the worker after
 * warm-up, must score within the bundle's tolerance, and the golden parts of `selftestDir` must get their verdicts,
 * on the provider in use; otherwise it rejects with LS_MODEL_SELFTEST. A replacement worker re-checks the probes.
 */
export class WorkerInspector implements Inspector {
  readonly #deps: WorkerInspectorDeps;
  #state: State = 'idle';
  #init: WorkerInit | undefined;
  #bundle: ModelBundle | undefined;
  #selfTest: SelfTestReport | undefined;
  #info: ModelInfo | undefined;
  #attempts: ProviderAttempt[] = [];
  #slot: Slot | undefined;
  #generation = 0;
  #nextId = 1;
  #consecutiveFailures = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(deps: WorkerInspectorDeps) {
    this.#deps = deps;
  }

  /** Facts about the loaded model; available once start() has resolved (and still after stop()). */
  get info(): ModelInfo {
    if (this.#info === undefined)
      throw new LinesideError('LS_INTERNAL', 'WorkerInspector.info read before start() resolved');
    return this.#info;
  }

  /** What happened to each configured execution provider when the current worker started (for `doctor`). */
  get providerAttempts(): readonly ProviderAttempt[] {
    return this.#attempts;
  }

  /** What the self-test before arming checked; set once start() has resolved. */
  get selfTest(): SelfTestReport | undefined {
    return this.#selfTest;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#state !== 'idle')
      throw new LinesideError('LS_INTERNAL', `WorkerInspector.start() called while ${this.#state}`);
    this.#state = 'starting';
    try {
      const { inference } = this.#deps;
      const bundle = await loadBundle(this.#deps.bundleDir);
      signal.throwIfAborted();
      const { metadata } = bundle;
      this.#bundle = bundle;
      this.#init = workerInit(bundle, inference);
      const slot = this.#spawn();
      const ready = await untilAborted(slot.ready, signal).catch((err: unknown) => {
        this.#retire(slot, new LinesideError('LS_INFERENCE_FAILED', 'the inspector did not start'));
        slot.worker.terminate().catch(() => undefined);
        throw err;
      });
      this.#attempts = ready.attempts;
      this.#info = {
        name: metadata.name,
        version: metadata.version,
        sha256: metadata.onnx.sha256,
        threshold: metadata.decision.threshold,
        executionProvider: ready.executionProvider,
        requestedProviders: [...inference.execution_providers],
      };
      this.#state = 'running';
      this.#selfTest = await this.#runSelfTest(ready, signal);
      const { executionProvider, nodeCounts } = ready;
      const fields = { model: metadata.name, version: metadata.version, executionProvider, nodeCounts };
      this.#deps.logger?.info(
        { ...fields, warmupMs: Math.round(ready.warmupMs), selfTest: this.#selfTest },
        'model ready',
      );
    } catch (err) {
      if (this.#state === 'running') await this.stop();
      this.#state = 'idle';
      throw err;
    }
  }

  #runSelfTest(ready: ReadyMessage, signal: AbortSignal): Promise<SelfTestReport> {
    if (this.#bundle === undefined) throw new LinesideError('LS_INTERNAL', 'self-test before the bundle was loaded');
    return runSelfTest({
      bundle: this.#bundle,
      probeScores: ready.probeScores,
      provider: ready.executionProvider,
      selftestDir: this.#deps.selftestDir,
      inspect: (image) => this.inspect(image, signal),
    });
  }

  #probeProblems(scores: readonly number[]): string[] {
    const tolerance = this.#bundle?.metadata.probes?.tolerance;
    return tolerance === undefined ? [] : probeProblems(this.#bundle?.probes ?? [], scores, tolerance);
  }

  async inspect(image: Buffer, signal?: AbortSignal): Promise<Inspection> {
    return this.#inspection(await this.#submit(image, signal, false));
  }

  async explain(image: Buffer, signal?: AbortSignal): Promise<Explanation> {
    const result = await this.#submit(image, signal, true);
    const model = this.#init?.model;
    if (result.heatmap === undefined || model === undefined) {
      throw new LinesideError('LS_INFERENCE_FAILED', 'the inference worker returned no heat map');
    }
    const heatmap = { width: model.width, height: model.height, values: result.heatmap };
    return { inspection: this.#inspection(result), heatmap };
  }

  #inspection({ defectScore, preprocessMs, inferenceMs, queueMs, transferMs }: WorkerResult): Inspection {
    const threshold = this.info.threshold;
    return {
      defectScore,
      verdict: defectScore >= threshold ? 'defective' : 'ok',
      threshold,
      ...{ preprocessMs, inferenceMs, queueMs, transferMs },
    };
  }

  #submit(image: Buffer, signal: AbortSignal | undefined, cam: boolean): Promise<WorkerResult> {
    const slot = this.#slot;
    if (this.#state !== 'running' || this.#info === undefined) {
      return Promise.reject(new LinesideError('LS_INFERENCE_FAILED', `the inspector is not running (${this.#state})`));
    }
    if (slot === undefined) {
      return Promise.reject(new LinesideError('LS_INFERENCE_WORKER_DIED', 'the inference worker is being restarted'));
    }
    if (signal?.aborted) {
      return Promise.reject(
        new LinesideError('LS_INFERENCE_FAILED', 'inspection aborted before it started', { cause: signal.reason }),
      );
    }
    const id = this.#nextId++;
    const { pending, promise } = pendingRequest<WorkerResult>({
      signal,
      timeoutMs: this.#deps.inference.timeout_ms,
      cancel: () => (slot.retired ? undefined : post(slot, { type: 'cancel', id })),
    });
    if (slot.pending.size === 0) slot.lastSignOfLifeMs = performance.now();
    pending.sentMs = performance.now();
    slot.pending.set(id, pending);
    // A private copy: the caller keeps its buffer, and the copy moves to the worker without a second copy.
    const copy = new Uint8Array(image.byteLength);
    copy.set(image);
    post(slot, { type: 'inspect', id, image: copy, cam }, [copy.buffer]);
    return promise;
  }

  async stop(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    clearTimeout(this.#restartTimer);
    const slot = this.#slot;
    if (slot !== undefined) {
      const outstanding = [...slot.pending.values()].filter((p) => !p.settled);
      if (outstanding.length > 0) {
        // Bounded drain: answers due within the timeout are still delivered.
        await Promise.race([
          Promise.all(outstanding.map((p) => p.whenSettled)),
          new Promise((done) => setTimeout(done, this.#deps.inference.timeout_ms)),
        ]);
      }
      this.#retire(slot, new LinesideError('LS_INFERENCE_FAILED', 'the inspector was stopped'));
      await slot.worker.terminate().catch(() => undefined);
    }
    // info stays readable: it still describes the model this inspector ran (final summaries, doctor).
    this.#state = 'idle';
  }

  #spawn(): Slot {
    const init = this.#init;
    if (init === undefined)
      throw new LinesideError('LS_INTERNAL', 'WorkerInspector spawned a worker before loading the bundle');
    const generation = ++this.#generation;
    const worker = startWorker(this.#deps.workerUrl ?? siblingModule(import.meta.url, 'inference-worker'), {
      workerData: init,
      name: 'lineside-inference',
    });
    let readiness!: Readiness;
    const ready = new Promise<ReadyMessage>((resolve, reject) => {
      readiness = { markReady: resolve, failReady: reject };
    });
    // Handled where it is awaited; a restart's readiness is reported through the message handler instead.
    ready.catch(() => undefined);
    const hangAfterMs = this.#deps.hangAfterMs ?? Math.max(5 * this.#deps.inference.timeout_ms, 5000);
    const slot: Slot = {
      worker,
      generation,
      pending: new Map(),
      lastSignOfLifeMs: performance.now(),
      hangCheck: setInterval(() => this.#checkHang(slot, hangAfterMs), Math.max(10, Math.floor(hangAfterMs / 4))),
      ready,
      isReady: false,
      retired: false,
    };
    slot.hangCheck.unref();
    this.#slot = slot;

    worker.on('message', (message: FromWorker) => this.#onMessage(slot, message, readiness));
    worker.on('error', (err) => {
      slot.lastError = err;
    });
    worker.on('exit', (exitCode) => {
      const cause = slot.lastError === undefined ? `exit code ${exitCode}` : errorMessage(slot.lastError);
      readiness.failReady(
        new LinesideError('LS_INFERENCE_WORKER_DIED', `the inference worker exited while loading the model: ${cause}`, {
          cause: slot.lastError,
        }),
      );
      this.#lost(slot, `worker exited (${cause})`);
    });
    return slot;
  }

  #checkHang(slot: Slot, hangAfterMs: number): void {
    // Not before it is ready: loading the model is allowed to take its time, and requests have their own timeouts.
    if (slot.isReady && slot.pending.size > 0 && performance.now() - slot.lastSignOfLifeMs > hangAfterMs) {
      this.#lost(slot, `no reply for ${hangAfterMs} ms with ${slot.pending.size} request(s) outstanding: worker hung`);
    }
  }

  #onMessage(slot: Slot, message: FromWorker, readiness: Readiness): void {
    slot.lastSignOfLifeMs = performance.now();
    switch (message.type) {
      case 'ready':
        slot.isReady = true;
        readiness.markReady(message);
        if (this.#state !== 'running') return;
        this.#noteRestart(slot, message);
        return;
      case 'init-failed': {
        readiness.failReady(new LinesideError(message.code, message.message));
        this.#lost(slot, `worker could not load the model: ${message.code}: ${message.message}`);
        return;
      }
      case 'result':
      case 'failed':
      case 'cancelled':
        this.#answer(slot, message);
        return;
      case 'log':
        this.#deps.logger?.[message.level](message.fields, message.msg);
        return;
    }
  }

  /** A replacement worker is ready: what it reports now describes the running model. */
  #noteRestart(slot: Slot, message: ReadyMessage): void {
    if (this.#info === undefined) return;
    const problems = this.#probeProblems(message.probeScores);
    if (problems.length > 0) {
      this.#lost(slot, selfTestError(message.executionProvider, problems).message);
      return;
    }
    this.#consecutiveFailures = 0;
    this.#attempts = message.attempts;
    if (message.executionProvider !== this.#info.executionProvider) {
      this.#deps.logger?.warn(
        { was: this.#info.executionProvider, now: message.executionProvider },
        'inference worker restarted on a different execution provider',
      );
      this.#info = { ...this.#info, executionProvider: message.executionProvider };
    }
    this.#deps.logger?.info({ generation: slot.generation }, 'inference worker restarted');
  }

  /** The worker's answer to one request; dropped when the caller already has its answer. */
  #answer(slot: Slot, message: Extract<FromWorker, { type: 'result' | 'failed' | 'cancelled' }>): void {
    const pending = slot.pending.get(message.id);
    slot.pending.delete(message.id);
    if (pending === undefined || pending.settled) return;
    if (message.type === 'result') {
      const { heatmap } = message;
      const result = workerResult(message, pending.sentMs ?? performance.now(), performance.now());
      pending.finish({ result: { ...result, ...(heatmap === undefined ? {} : { heatmap }) } });
    } else if (message.type === 'failed') {
      pending.finish({ error: new LinesideError(message.code, message.message) });
    } else {
      pending.finish({ error: new LinesideError('LS_INFERENCE_FAILED', 'inspection was cancelled') });
    }
  }

  /** The worker is gone or useless: fail what it held, and replace it if we are running. */
  #lost(slot: Slot, reason: string): void {
    if (slot.retired) return;
    this.#retire(
      slot,
      new LinesideError('LS_INFERENCE_WORKER_DIED', `inference worker failed: ${reason}`, { cause: slot.lastError }),
    );
    // Not awaited: a worker stuck in native code only ends when that call returns, and the line cannot wait.
    slot.worker.terminate().catch(() => undefined);
    if (this.#state !== 'running') return;
    this.#consecutiveFailures += 1;
    const delayMs =
      this.#consecutiveFailures <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (this.#consecutiveFailures - 2));
    this.#deps.logger?.error(
      { code: 'LS_INFERENCE_WORKER_DIED', reason, restartInMs: delayMs },
      'inference worker lost; restarting it',
    );
    if (delayMs === 0) {
      this.#spawn();
      return;
    }
    this.#restartTimer = setTimeout(() => {
      if (this.#state === 'running' && this.#slot === undefined) this.#spawn();
    }, delayMs);
  }

  /** Stop using this worker and fail whatever it still held; terminating it is the caller's business. */
  #retire(slot: Slot, error: LinesideError): void {
    slot.retired = true;
    clearInterval(slot.hangCheck);
    if (this.#slot === slot) this.#slot = undefined;
    for (const pending of slot.pending.values()) pending.finish({ error });
    slot.pending.clear();
  }
}

function post(slot: Slot, message: ToWorker, transfer: ArrayBuffer[] = []): void {
  slot.worker.postMessage(message, transfer);
}
