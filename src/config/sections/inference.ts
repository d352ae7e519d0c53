import { z } from 'zod';

export const modelSection = z
  .strictObject({
    bundle: z
      .string()
      .min(1)
      .default('models/casting-cnn')
      .describe('Directory of the model bundle (model.json + .onnx); relative paths resolve from the config file.'),
  })
  .describe('The model bundle. Everything about the model (size, normalisation, threshold) comes from its metadata.');

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
  })
  .describe('How the model runs.');

export type ModelConfig = z.infer<typeof modelSection>;
export type InferenceConfig = z.infer<typeof inferenceSection>;
