import { z } from 'zod';

export const modelSection = z
  .strictObject({
    bundle: z
      .string()
      .min(1)
      .default('models/casting-cnn')
      .describe('Directory of the model bundle (model.json + .onnx); relative paths resolve from the config file.'),
    selftest_dir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The line's own golden parts for the self-test before arming: images in def_front/ must be judged defective " +
          'and images in ok_front/ ok, on the execution provider in use, or the daemon refuses to arm ' +
          "(LS_MODEL_SELFTEST). Relative paths resolve from the config file. Unset: only the bundle's pinned probes run.",
      ),
  })
  .describe('The model bundle. Everything about the model (size, normalisation, threshold) comes from its metadata.');

const cudaSection = z
  .strictObject({
    device_id: z.number().int().min(0).max(63).default(0).describe('GPU index for the cuda and tensorrt providers.'),
  })
  .describe('CUDA provider options (docs/gpu.md).');

const tensorrtSection = z
  .strictObject({
    cache_dir: z
      .string()
      .min(1)
      .default('var/trt-cache')
      .describe(
        'Directory of the TensorRT engine cache (`lineside doctor --build-engine` fills it ahead of time); relative to ' +
          'the config file. Under systemd use the state directory, e.g. /var/lib/lineside/trt-cache.',
      ),
    fp16: z
      .boolean()
      .default(false)
      .describe(
        'Let TensorRT build FP16 kernels. Faster, and may move scores: the self-test before arming checks them.',
      ),
    workspace_mb: z
      .number()
      .int()
      .min(16)
      .max(65_536)
      .default(1024)
      .describe('MiB of GPU memory TensorRT may use while it builds the engine.'),
  })
  .describe(
    'TensorRT provider options. onnxruntime-node 1.30 forwards only the device id to TensorRT; the rest needs a ' +
      'binding that forwards them (docs/gpu.md, "TensorRT options").',
  );

export const inferenceSection = z
  .strictObject({
    execution_providers: z
      .array(z.enum(['cuda', 'tensorrt', 'webgpu', 'cpu']))
      .min(1)
      .default(['cpu'])
      .describe('onnxruntime execution providers to try, in order. The one actually in use is detected and reported.'),
    require_gpu: z
      .boolean()
      .default(false)
      .describe('Refuse to start (LS_EP_UNAVAILABLE) if only the CPU provider is in use.'),
    intra_op_threads: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe('Threads onnxruntime uses inside one inference.'),
    warmup_runs: z.number().int().min(0).max(100).default(3).describe('Inferences run on a blank image before arming.'),
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(60_000)
      .default(1000)
      .describe('Milliseconds preprocessing plus inference may take before the part is rejected fail-safe.'),
    max_input_pixels: z
      .number()
      .int()
      .min(1)
      .default(40_000_000)
      .describe('Pixels (width x height); larger images are refused before decoding (LS_IMAGE_TOO_LARGE).'),
    cuda: cudaSection.default({ device_id: 0 }),
    tensorrt: tensorrtSection.default({ cache_dir: 'var/trt-cache', fp16: false, workspace_mb: 1024 }),
  })
  .describe('How the model runs.');

export type ModelConfig = z.infer<typeof modelSection>;
export type InferenceConfig = z.infer<typeof inferenceSection>;
