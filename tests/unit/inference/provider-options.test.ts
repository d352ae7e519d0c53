import { describe, expect, it } from 'vitest';
import { providerConfigs } from '../../../src/inference/provider-options.js';
import { inferenceConfig } from './helpers.js';

describe('providerConfigs: what onnxruntime gets for each provider (no GPU here: the object is what is tested)', () => {
  it('defaults: device 0, engine cache on in var/trt-cache, FP32, 1 GiB workspace', () => {
    const configs = providerConfigs(inferenceConfig());
    expect(configs.cpu).toBe('cpu');
    expect(configs.cuda).toEqual({ name: 'cuda', deviceId: 0 });
    expect(configs.tensorrt).toEqual({
      name: 'tensorrt',
      deviceId: 0,
      trt_engine_cache_enable: '1',
      trt_engine_cache_path: 'var/trt-cache',
      trt_timing_cache_enable: '1',
      trt_fp16_enable: '0',
      trt_max_workspace_size: String(1024 * 1024 * 1024),
    });
  });

  it('passes the configured device, cache directory, FP16 and workspace', () => {
    const configs = providerConfigs(
      inferenceConfig({
        cuda: { device_id: 1 },
        tensorrt: { cache_dir: '/var/lib/lineside/trt-cache', fp16: true, workspace_mb: 256 },
      }),
    );
    expect(configs.cuda).toEqual({ name: 'cuda', deviceId: 1 });
    expect(configs.tensorrt).toMatchObject({
      deviceId: 1,
      trt_engine_cache_path: '/var/lib/lineside/trt-cache',
      trt_fp16_enable: '1',
      trt_max_workspace_size: String(256 * 1024 * 1024),
    });
  });
});
