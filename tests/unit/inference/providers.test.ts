import { describe, expect, it } from 'vitest';
import {
  describeAttempts,
  nodeCountsFromProfile,
  reportedProvider,
  selectExecutionProvider,
  type ProviderName,
  type RegisteredBackend,
} from '../../../src/inference/providers.js';
import { rejection } from './helpers.js';

/** What onnxruntime-node 1.30 reports on linux-x64 (cuda/tensorrt compiled in, libraries shipped separately). */
const LINUX_X64: RegisteredBackend[] = [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];
/** The linux-arm64 (Jetson) npm build: CPU only. */
const LINUX_ARM64: RegisteredBackend[] = [{ name: 'cpu', bundled: true }];

/** A fake session factory: providers in `working` open, the others throw like onnxruntime does. */
function opener(working: readonly ProviderName[]) {
  const tried: ProviderName[] = [];
  const open = (provider: ProviderName): Promise<string> => {
    tried.push(provider);
    if (working.includes(provider)) return Promise.resolve(`session-on-${provider}`);
    return Promise.reject(
      new Error(`OrtSessionOptionsAppendExecutionProvider_${provider}: Failed to load shared library`),
    );
  };
  return { tried, open };
}

describe('selectExecutionProvider', () => {
  it('uses the first requested provider that opens, trying them one at a time in order', async () => {
    const { tried, open } = opener(['cuda', 'cpu']);
    const selection = await selectExecutionProvider({
      requested: ['tensorrt', 'cuda', 'cpu'],
      registered: LINUX_X64,
      requireGpu: false,
      open,
    });
    expect(selection.provider).toBe('cuda');
    expect(selection.session).toBe('session-on-cuda');
    expect(tried).toEqual(['tensorrt', 'cuda']);
    expect(selection.attempts.map((a) => [a.provider, a.outcome])).toEqual([
      ['tensorrt', 'failed'],
      ['cuda', 'opened'],
      ['cpu', 'skipped'],
    ]);
    expect(selection.attempts[0]?.reason).toContain('Failed to load shared library');
  });

  it('falls back to cpu when a registered GPU provider fails hard at session creation', async () => {
    const { tried, open } = opener(['cpu']);
    const selection = await selectExecutionProvider({
      requested: ['cuda', 'cpu'],
      registered: LINUX_X64,
      requireGpu: false,
      open,
    });
    expect(selection.provider).toBe('cpu');
    expect(tried).toEqual(['cuda', 'cpu']);
    expect(describeAttempts(selection.attempts)).toMatch(
      /^cuda: failed \(.*Failed to load shared library\); cpu: opened$/,
    );
  });

  it('never passes an unregistered provider to onnxruntime (which would silently run it on CPU)', async () => {
    const { tried, open } = opener(['cuda', 'cpu']);
    const selection = await selectExecutionProvider({
      requested: ['cuda', 'cpu'],
      registered: LINUX_ARM64,
      requireGpu: false,
      open,
    });
    expect(tried).toEqual(['cpu']);
    expect(selection.provider).toBe('cpu');
    expect(selection.attempts[0]).toMatchObject({ provider: 'cuda', outcome: 'not-registered' });
    expect(selection.attempts[0]?.reason).toContain("no 'cuda' provider");
  });

  it('refuses with LS_EP_UNAVAILABLE when nothing requested can be used', async () => {
    const { open } = opener([]);
    const err = await rejection(
      selectExecutionProvider({ requested: ['cuda', 'webgpu'], registered: LINUX_X64, requireGpu: false, open }),
    );
    expect(err.code).toBe('LS_EP_UNAVAILABLE');
    expect(err.message).toContain('cuda: failed');
    expect(err.message).toContain('webgpu: failed');
  });

  it('with require_gpu, never tries cpu and refuses when no GPU provider opens', async () => {
    const { tried, open } = opener(['cpu']);
    const err = await rejection(
      selectExecutionProvider({ requested: ['cuda', 'cpu'], registered: LINUX_X64, requireGpu: true, open }),
    );
    expect(err.code).toBe('LS_EP_UNAVAILABLE');
    expect(err.message).toContain('require_gpu');
    expect(tried).toEqual(['cuda']);
  });

  it('with require_gpu, accepts a GPU provider that opens', async () => {
    const { open } = opener(['webgpu']);
    const selection = await selectExecutionProvider({
      requested: ['cuda', 'webgpu', 'cpu'],
      registered: LINUX_X64,
      requireGpu: true,
      open,
    });
    expect(selection.provider).toBe('webgpu');
  });

  it('blames the model, not the provider, when even cpu cannot load it', async () => {
    const { open } = opener([]);
    const err = await rejection(
      selectExecutionProvider({ requested: ['cpu'], registered: LINUX_X64, requireGpu: false, open }),
    );
    expect(err.code).toBe('LS_MODEL_INVALID');
  });

  it('tries a provider listed twice only once', async () => {
    const { tried, open } = opener(['cpu']);
    await selectExecutionProvider({
      requested: ['cuda', 'cuda', 'cpu'],
      registered: LINUX_X64,
      requireGpu: false,
      open,
    });
    expect(tried).toEqual(['cuda', 'cpu']);
  });
});

describe('nodeCountsFromProfile', () => {
  it('counts graph nodes per provider from an onnxruntime profile, using config names', () => {
    const profile = [
      { cat: 'Session', name: 'model_loading_array', args: {} },
      { cat: 'Node', name: 'conv1_kernel_time', args: { op_name: 'Conv', provider: 'CUDAExecutionProvider' } },
      { cat: 'Node', name: 'conv2_kernel_time', args: { op_name: 'Conv', provider: 'CUDAExecutionProvider' } },
      { cat: 'Node', name: 'shape_kernel_time', args: { op_name: 'Shape', provider: 'CPUExecutionProvider' } },
      { cat: 'Node', name: 'odd', args: { provider: 'SomeFutureExecutionProvider' } },
      { cat: 'Node', name: 'no-provider', args: {} },
    ];
    expect(nodeCountsFromProfile(profile)).toEqual({ cuda: 2, cpu: 1, SomeFutureExecutionProvider: 1 });
  });

  it('returns no counts for something that is not a profile', () => {
    expect(nodeCountsFromProfile({ not: 'an array' })).toEqual({});
    expect(nodeCountsFromProfile([null, 3, 'x'])).toEqual({});
  });
});

describe('reportedProvider', () => {
  it('reports the GPU provider that ran the graph even when onnxruntime put a few small nodes on CPU', () => {
    expect(reportedProvider({ opened: 'cuda', nodeCounts: { cuda: 10, cpu: 2 }, requireGpu: true })).toEqual({
      provider: 'cuda',
    });
  });

  it('reports cpu, with a warning, when the opened GPU provider accepted no node', () => {
    const reported = reportedProvider({ opened: 'webgpu', nodeCounts: { cpu: 12 }, requireGpu: false });
    expect(reported.provider).toBe('cpu');
    expect(reported.warning).toContain("'webgpu' was opened");
  });

  it('refuses with LS_EP_UNAVAILABLE under require_gpu when everything actually runs on CPU', () => {
    expect(() => reportedProvider({ opened: 'cuda', nodeCounts: { cpu: 12 }, requireGpu: true })).toThrow(
      expect.objectContaining({ code: 'LS_EP_UNAVAILABLE' }),
    );
  });

  it('falls back to the opened provider when no profile could be read', () => {
    expect(reportedProvider({ opened: 'cpu', nodeCounts: {}, requireGpu: false })).toEqual({ provider: 'cpu' });
  });
});
