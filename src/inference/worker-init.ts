import type { InferenceConfig } from '../config/sections/inference.js';
import type { ModelBundle } from './bundle.js';
import { providerConfigs } from './provider-options.js';
import type { WorkerInit } from './worker-protocol.js';

/** Everything the inference worker needs, from the verified bundle and the config (plain data, posted once). */
export function workerInit(bundle: ModelBundle, inference: InferenceConfig): WorkerInit {
  const { metadata } = bundle;
  return {
    model: {
      onnxBytes: bundle.onnxBytes,
      inputName: metadata.input.name,
      outputName: metadata.output.name,
      ...(metadata.cam === undefined ? {} : { camOutputName: metadata.cam.output }),
      width: metadata.preprocess.width,
      height: metadata.preprocess.height,
    },
    preprocess: metadata.preprocess,
    providers: [...inference.execution_providers],
    providerConfigs: providerConfigs(inference),
    requireGpu: inference.require_gpu,
    intraOpThreads: inference.intra_op_threads,
    warmupRuns: inference.warmup_runs,
    maxInputPixels: inference.max_input_pixels,
    probes: bundle.probes.map((probe) => probe.pixels),
  };
}
