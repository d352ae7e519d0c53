import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceSession, Tensor, listSupportedBackends } from 'onnxruntime-node';
import { LinesideError, errorMessage } from '../errors.js';
import type { ProviderConfigs } from './provider-options.js';
import {
  describeAttempts,
  nodeCountsFromProfile,
  reportedProvider,
  selectExecutionProvider,
  type ProviderAttempt,
  type ProviderName,
  type ProviderSelection,
  type RegisteredBackend,
} from './providers.js';

/** What the runtime needs to know about the model; all of it comes from the verified bundle. */
export interface ModelSpec {
  /** The verified .onnx bytes (never re-read from disk: what runs is what was hashed). */
  onnxBytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** The class-activation output ([1, 1, height, width]), when the bundle has one. */
  camOutputName?: string;
  width: number;
  height: number;
}

export interface OpenSessionOptions {
  model: ModelSpec;
  providers: readonly ProviderName[];
  requireGpu: boolean;
  intraOpThreads: number;
  /** The entry passed to onnxruntime for each provider (device id, TensorRT options); the bare name otherwise. */
  providerConfigs?: Partial<ProviderConfigs>;
  /** Where degraded-but-working facts go (a provider fell back). */
  warn: (message: string, fields: Record<string, unknown>) => void;
}

export interface OpenedSession {
  /** Run the model on one image's pixels (float32 0..255, NCHW [1, 1, height, width]); returns the defect score. */
  run: (input: Float32Array) => Promise<number>;
  /** The same run, also returning the class-activation map (raw, >= 0, height x width); LS_MODEL_INVALID without one. */
  explain: (input: Float32Array) => Promise<{ score: number; cam: Float32Array }>;
  release: () => Promise<void>;
  /** The provider actually in use (detected from the profiled first run). */
  executionProvider: string;
  attempts: ProviderAttempt[];
  /** Graph nodes per provider in the first run. */
  nodeCounts: Record<string, number>;
}

/**
 * Shared libraries a non-bundled provider loads from the binding's own directory (what
 * `ONNXRUNTIME_NODE_INSTALL=cuda12` downloads on linux-x64). CUDA, cuDNN and TensorRT themselves come from the
 * system library path on top of these.
 */
const PROVIDER_LIBRARIES: Readonly<Record<string, readonly string[]>> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
};

/** The directory holding onnxruntime_binding.node and libonnxruntime for this platform. */
export function bindingDirectory(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** The provider's extra libraries that are not installed next to the binding (empty when none are needed). */
export function missingProviderLibraries(provider: string, dir: string = bindingDirectory()): string[] {
  return (PROVIDER_LIBRARIES[provider] ?? []).filter((file) => !existsSync(path.join(dir, file)));
}

/** The backends this process's onnxruntime-node binding was compiled with. */
export function registeredBackends(): RegisteredBackend[] {
  return listSupportedBackends().map((backend) => ({ name: backend.name, bundled: backend.bundled }));
}

/**
 * Create the onnxruntime session on the first configured provider that works, prove which provider really
 * runs the graph, and return a small runner. Blocks the calling thread while onnxruntime runs: call it in
 * the inference worker (or in a benchmark's baseline), never on the daemon's main thread.
 *
 * Throws LinesideError LS_EP_UNAVAILABLE or LS_MODEL_INVALID.
 */
export async function openSession(options: OpenSessionOptions): Promise<OpenedSession> {
  const profileDir = await mkdtemp(path.join(tmpdir(), 'lineside-ort-profile-'));
  try {
    const selection = await selectExecutionProvider<InferenceSession>({
      requested: options.providers,
      registered: registeredBackends(),
      requireGpu: options.requireGpu,
      open: (provider) => createSession(provider, options, profileDir),
    });
    const fallbacks = selection.attempts.filter((a) => a.outcome === 'failed' || a.outcome === 'not-registered');
    if (fallbacks.length > 0) {
      options.warn(`execution provider fallback: using '${selection.provider}'`, {
        attempts: describeAttempts(selection.attempts),
      });
    }
    try {
      return await proveSession(selection, profileDir, options);
    } catch (err) {
      await selection.session.release();
      throw err;
    }
  } finally {
    await rm(profileDir, { recursive: true, force: true });
  }
}

/** One session on one provider, profiling into profileDir; a load failure names the provider libraries missing. */
function createSession(
  provider: ProviderName,
  options: OpenSessionOptions,
  profileDir: string,
): Promise<InferenceSession> {
  return InferenceSession.create(options.model.onnxBytes, {
    executionProviders: [options.providerConfigs?.[provider] ?? provider],
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Profiling is switched off again after the first run (endProfiling); its file is how we learn which
    // provider each node really ran on, since the Node binding does not expose the session's providers.
    enableProfiling: true,
    profileFilePrefix: path.join(profileDir, provider),
    // Errors only: a failing provider's reason reaches us as the thrown message.
    logSeverityLevel: 3,
  }).catch((err: unknown) => {
    const missing = missingProviderLibraries(provider);
    if (missing.length === 0) throw err;
    // onnxruntime only says "Failed to load shared library"; name the files and where they come from.
    throw new Error(`${errorMessage(err)}: ${missing.join(', ')} not installed (see docs/gpu.md)`, { cause: err });
  });
}

/**
 * Check the model's signature, run it once on a blank image and read the profile of that run to learn which
 * provider really ran the graph. Releasing the session when this throws is the caller's business.
 */
async function proveSession(
  selection: ProviderSelection<InferenceSession>,
  profileDir: string,
  options: OpenSessionOptions,
): Promise<OpenedSession> {
  const { session } = selection;
  const { model } = options;
  checkSignature(session, model);
  const { run, explain } = runners(session, model);
  await run(new Float32Array(model.width * model.height));
  session.endProfiling();
  let nodeCounts: Record<string, number> = {};
  try {
    nodeCounts = await readProfileCounts(profileDir, `${selection.provider}_`);
  } catch (err) {
    // An unreadable profile must not stop a working model; the provider that opened is reported instead.
    options.warn(`could not read the onnxruntime profile; reporting '${selection.provider}' as opened`, {
      err: errorMessage(err),
    });
  }
  const reported = reportedProvider({ opened: selection.provider, nodeCounts, requireGpu: options.requireGpu });
  if (reported.warning !== undefined) options.warn(reported.warning, { nodeCounts });
  return {
    run,
    explain,
    release: () => session.release(),
    executionProvider: reported.provider,
    attempts: selection.attempts,
    nodeCounts,
  };
}

function checkSignature(session: InferenceSession, model: ModelSpec): void {
  const outputs = [model.outputName, ...(model.camOutputName === undefined ? [] : [model.camOutputName])];
  if (!session.inputNames.includes(model.inputName) || !outputs.every((name) => session.outputNames.includes(name))) {
    throw new LinesideError(
      'LS_MODEL_INVALID',
      `model has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
        `the bundle metadata expects input '${model.inputName}' and outputs [${outputs.join(', ')}]`,
    );
  }
}

/** The score from one run's outputs; LS_INFERENCE_FAILED when it is not a number in [0, 1]. */
function scoreOf(outputs: InferenceSession.OnnxValueMapType, name: string): number {
  const data = outputs[name]?.data;
  const score = data instanceof Float32Array ? data[0] : undefined;
  if (score === undefined || !Number.isFinite(score) || score < 0 || score > 1) {
    throw new LinesideError(
      'LS_INFERENCE_FAILED',
      `model output '${name}' is not a score in [0, 1] (got ${String(score)})`,
    );
  }
  return score;
}

/**
 * Runs fetch only the outputs they need: the verdict path asks for the score alone, so what the line runs does
 * not depend on the map (its scores are bit-identical with and without it: tests/unit/inference/cam-bundle.test.ts).
 */
function runners(session: InferenceSession, model: ModelSpec): Pick<OpenedSession, 'run' | 'explain'> {
  const dims = [1, 1, model.height, model.width];
  const feeds = (input: Float32Array): InferenceSession.FeedsType => ({
    [model.inputName]: new Tensor('float32', input, dims),
  });
  const camName = model.camOutputName;
  return {
    run: async (input) => scoreOf(await session.run(feeds(input), [model.outputName]), model.outputName),
    explain: async (input) => {
      if (camName === undefined) {
        throw new LinesideError('LS_MODEL_INVALID', 'the model bundle has no class-activation output (model.json cam)');
      }
      const outputs = await session.run(feeds(input), [model.outputName, camName]);
      const cam = outputs[camName]?.data;
      if (!(cam instanceof Float32Array) || cam.length !== model.width * model.height) {
        throw new LinesideError(
          'LS_INFERENCE_FAILED',
          `model output '${camName}' is not a ${model.width}x${model.height} map`,
        );
      }
      return { score: scoreOf(outputs, model.outputName), cam };
    },
  };
}

async function readProfileCounts(dir: string, prefix: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const file of await readdir(dir)) {
    if (!file.startsWith(prefix) || !file.endsWith('.json')) continue;
    const events: unknown = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    for (const [name, n] of Object.entries(nodeCountsFromProfile(events))) counts[name] = (counts[name] ?? 0) + n;
  }
  return counts;
}
