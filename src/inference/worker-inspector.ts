import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
// sharp's docs: load it on the main thread too, so libvips stays loaded when a worker that used it exits.
import 'sharp';
import type { InferenceConfig } from '../config/sections/inference.js';
import { LinesideError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { siblingModule, startWorker } from '../worker.js';
import { loadBundle } from './bundle.js';
import type { ProviderAttempt } from './providers.js';
import type { Inspection, Inspector, ModelInfo } from '../domain/ports.js';
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
}

type WorkerResult = ReturnType<typeof workerResult>;

type ReadyMessage = Extract<FromWorker, { type: 'ready' }>;

/** Settles a worker's `ready` promise: from its first 'ready' message, or from its failure to load. */
interface Readiness {
  markReady: (message: ReadyMessage) => void;
  failReady: (err: unknown) => void;
}

interface Pending {
  /** Set once the caller has its answer (result, error, timeout or abort); a late reply is then dropped. */
  settled: boolean;
  finish: (outcome: { result: WorkerResult } | { error: LinesideError }) => void;
  whenSettled: Promise<void>;
  sentMs: number; // performance.now() when posted: the transfer stage is the round trip minus the worker's time
}

interface Slot {
  worker: Worker;
  generation: number;
  pending: Map<number, Pending>;
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
 */
export class WorkerInspector implements Inspector {
  readonly #deps: WorkerInspectorDeps;
  #state: State = 'idle';
  #init: WorkerInit | undefined;
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

  async start(signal: AbortSignal): Promise<void> {
    if (this.#state !== 'idle')
      throw new LinesideError('LS_INTERNAL', `WorkerInspector.start() called while ${this.#state}`);
    this.#state = 'starting';
    try {
      const { inference } = this.#deps;
      const bundle = await loadBundle(this.#deps.bundleDir);
      signal.throwIfAborted();
      const { metadata } = bundle;
      this.#init = {
        model: {
          onnxBytes: bundle.onnxBytes,
          inputName: metadata.input.name,
          outputName: metadata.output.name,
          width: metadata.preprocess.width,
          height: metadata.preprocess.height,
        },
        preprocess: metadata.preprocess,
        providers: [...inference.execution_providers],
        requireGpu: inference.require_gpu,
        intraOpThreads: inference.intra_op_threads,
        warmupRuns: inference.warmup_runs,
        maxInputPixels: inference.max_input_pixels,
      };
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
      this.#deps.logger?.info(
        {
          model: metadata.name,
          version: metadata.version,
          executionProvider: ready.executionProvider,
          nodeCounts: ready.nodeCounts,
          warmupMs: Math.round(ready.warmupMs),
        },
        'model ready',
      );
    } catch (err) {
      this.#state = 'idle';
      throw err;
    }
  }

  inspect(image: Buffer, signal?: AbortSignal): Promise<Inspection> {
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
    const { threshold } = this.#info;
    const timeoutMs = this.#deps.inference.timeout_ms;
    const id = this.#nextId++;
    return new Promise<WorkerResult>((resolve, reject) => {
      let markSettled!: () => void;
      const whenSettled = new Promise<void>((done) => {
        markSettled = done;
      });
      const giveUp = (error: LinesideError): void => {
        if (pending.settled) return;
        pending.finish({ error });
        if (!slot.retired) post(slot, { type: 'cancel', id });
      };
      const onAbort = (): void =>
        giveUp(new LinesideError('LS_INFERENCE_FAILED', 'inspection aborted', { cause: signal?.reason }));
      const timeout = setTimeout(
        () =>
          giveUp(new LinesideError('LS_INFERENCE_FAILED', `no result within inference.timeout_ms (${timeoutMs} ms)`)),
        timeoutMs,
      );
      const pending: Pending = {
        settled: false,
        whenSettled,
        sentMs: performance.now(),
        finish: (outcome) => {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(timeout);
          signal?.removeEventListener('abort', onAbort);
          markSettled();
          if ('error' in outcome) reject(outcome.error);
          else resolve(outcome.result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (slot.pending.size === 0) slot.lastSignOfLifeMs = performance.now();
      slot.pending.set(id, pending);
      // A private copy: the caller keeps its buffer, and the copy moves to the worker without a second copy.
      const copy = new Uint8Array(image.byteLength);
      copy.set(image);
      post(slot, { type: 'inspect', id, image: copy }, [copy.buffer]);
    }).then((result) => ({ ...result, verdict: result.defectScore >= threshold ? 'defective' : 'ok', threshold }));
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
        this.#consecutiveFailures = 0;
        readiness.markReady(message);
        if (this.#state === 'running') this.#noteRestart(slot, message);
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
      pending.finish({ result: workerResult(message, pending.sentMs, performance.now()) });
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

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(toError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(toError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(toError(err));
      },
    );
  });
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
