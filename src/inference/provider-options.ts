import type { InferenceSession } from 'onnxruntime-node';
import type { InferenceConfig } from '../config/sections/inference.js';
import type { ProviderName } from './providers.js';

/** What `InferenceSession.create` gets in `executionProviders` for each provider (plain data: it goes to the worker). */
export type ProviderConfigs = Readonly<Record<ProviderName, InferenceSession.ExecutionProviderConfig>>;

/**
 * The execution-provider entries built from `inference.cuda` and `inference.tensorrt`.
 *
 * `deviceId` is the one key onnxruntime-node 1.30's binding reads for `cuda` and `tensorrt`
 * (js/node/src/session_options_helper.cc). The `trt_*` keys are the TensorRT provider's own option names, as
 * onnxruntime's string-keyed provider options spell them (values are strings there: '1'/'0', a path, bytes):
 * the stock binding ignores them, a binding that forwards them to `UpdateTensorRTProviderOptions` (docs/gpu.md,
 * "TensorRT options") applies them. Environment variables (ORT_TENSORRT_*) do not help: the binding appends the
 * provider with an options struct, and TensorRT then reads no environment.
 */
export function providerConfigs(inference: Pick<InferenceConfig, 'cuda' | 'tensorrt'>): ProviderConfigs {
  const deviceId = inference.cuda.device_id;
  const trt = inference.tensorrt;
  const tensorrt = {
    name: 'tensorrt',
    deviceId,
    trt_engine_cache_enable: '1',
    trt_engine_cache_path: trt.cache_dir,
    trt_timing_cache_enable: '1',
    trt_fp16_enable: trt.fp16 ? '1' : '0',
    trt_max_workspace_size: String(trt.workspace_mb * 1024 * 1024),
  } as const;
  return { cpu: 'cpu', webgpu: 'webgpu', cuda: { name: 'cuda', deviceId }, tensorrt };
}
