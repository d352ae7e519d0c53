import { mkdir, readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { inspectorDeps } from '../app/components.js';
import type { LoadedConfig } from '../config/load.js';
import { LinesideError, errorCode, errorMessage, ERROR_CODES } from '../errors.js';
import { loadBundle } from '../inference/bundle.js';
import { toInputTensorData } from '../inference/preprocess.js';
import { probeProblems } from '../inference/selftest.js';
import { openSession, registeredBackends } from '../inference/session.js';
import { workerInit } from '../inference/worker-init.js';
import type { Logger } from '../log.js';
import type { Check } from './doctor.js';

const NAME = 'tensorrt engine';

/**
 * `lineside doctor --build-engine`: build the TensorRT engine of the configured model into
 * `inference.tensorrt.cache_dir` ahead of time, so that the daemon's start finds it cached instead of building it
 * inside systemd's TimeoutStartSec; then run the bundle's probes on it (an FP16 engine that moves scores shows here).
 * Where TensorRT cannot run it says so with LS_EP_UNAVAILABLE; nothing falls back to the CPU.
 */
export async function buildEngineChecks(loaded: LoadedConfig, logger: Logger): Promise<Check[]> {
  const deps = inspectorDeps(loaded, logger);
  const cacheDir = deps.inference.tensorrt.cache_dir;
  try {
    if (!registeredBackends().some((backend) => backend.name === 'tensorrt')) {
      throw new LinesideError(
        'LS_EP_UNAVAILABLE',
        'TensorRT is unavailable: this onnxruntime-node build has no tensorrt provider (docs/gpu.md)',
      );
    }
    const bundle = await loadBundle(deps.bundleDir);
    const init = workerInit(bundle, deps.inference);
    await mkdir(cacheDir, { recursive: true });
    const before = new Set(await readdir(cacheDir));
    const started = performance.now();
    const session = await openSession({
      ...init,
      providers: ['tensorrt'],
      requireGpu: true,
      warn: (msg, fields) => logger.warn(fields, msg),
    }).catch((err: unknown) => {
      throw new LinesideError('LS_EP_UNAVAILABLE', `TensorRT is unavailable: ${errorMessage(err)}`, { cause: err });
    });
    const buildMs = performance.now() - started;
    const scores: number[] = [];
    try {
      for (const probe of bundle.probes) scores.push(await session.run(toInputTensorData(probe.pixels)));
    } finally {
      await session.release();
    }
    const added = (await readdir(cacheDir)).filter((name) => !before.has(name));
    return [engineCheck(cacheDir, buildMs, added), probeCheck(bundle, scores)];
  } catch (err) {
    const code = errorCode(err);
    return [{ name: NAME, status: 'fail', detail: errorMessage(err), code, action: ERROR_CODES[code].action }];
  }
}

function engineCheck(cacheDir: string, buildMs: number, added: string[]): Check {
  const seconds = (buildMs / 1000).toFixed(1);
  if (added.length === 0) {
    return {
      name: NAME,
      status: 'warn',
      detail: `TensorRT ran the model (${seconds} s to build) but wrote nothing to ${cacheDir}: already cached, or this onnxruntime-node binding does not forward the cache options`,
      action: 'See docs/gpu.md, "TensorRT options": without a cached engine each start builds it again.',
    };
  }
  return { name: NAME, status: 'ok', detail: `built in ${seconds} s; ${cacheDir}: ${added.join(', ')}` };
}

function probeCheck(bundle: Awaited<ReturnType<typeof loadBundle>>, scores: number[]): Check {
  const tolerance = bundle.metadata.probes?.tolerance;
  if (tolerance === undefined) return { name: 'engine probes', status: 'skip', detail: 'the bundle has no probes' };
  const problems = probeProblems(bundle.probes, scores, tolerance);
  if (problems.length === 0) {
    return { name: 'engine probes', status: 'ok', detail: `${scores.length} probes within ${tolerance} on tensorrt` };
  }
  const code = 'LS_MODEL_SELFTEST';
  return { name: 'engine probes', status: 'fail', detail: problems.join('; '), code, action: ERROR_CODES[code].action };
}
