import type { InferenceConfig } from '../config/sections/inference.js';
import { LinesideError } from '../errors.js';

/** An execution provider name as written in `inference.execution_providers`. */
export type ProviderName = InferenceConfig['execution_providers'][number];

/** One backend the installed onnxruntime-node binding was compiled with (its `listSupportedBackends()`). */
export interface RegisteredBackend {
  name: string;
  /**
   * false: the provider is compiled in but its libraries ship separately (cuda, tensorrt on linux-x64);
   * creating a session then fails hard unless they were installed (docs/gpu.md).
   */
  bundled: boolean;
}

/** Providers that mean "a GPU is doing the work" for `require_gpu`. */
export const GPU_PROVIDERS: ReadonlySet<string> = new Set<ProviderName>(['cuda', 'tensorrt', 'webgpu']);

/** onnxruntime's provider type names (profiles, logs) to our config names. */
const ORT_PROVIDER_TYPES: Readonly<Record<string, string>> = {
  CPUExecutionProvider: 'cpu',
  CUDAExecutionProvider: 'cuda',
  TensorrtExecutionProvider: 'tensorrt',
  WebGpuExecutionProvider: 'webgpu',
};

export interface ProviderAttempt {
  provider: ProviderName;
  outcome: 'opened' | 'not-registered' | 'failed' | 'skipped';
  /** Why it was not used; absent for the one that opened. */
  reason?: string;
}

export interface ProviderSelection<S> {
  provider: ProviderName;
  session: S;
  /** Every requested provider in order, with what happened to it (for logs and `doctor`). */
  attempts: ProviderAttempt[];
}

export interface SelectProviderOptions<S> {
  requested: readonly ProviderName[];
  registered: readonly RegisteredBackend[];
  requireGpu: boolean;
  /** Create a session that uses exactly this one provider; throws when it cannot. */
  open: (provider: ProviderName) => Promise<S>;
}

/**
 * Try the requested providers one at a time, in order, and keep the first that opens.
 *
 * One at a time because onnxruntime fails the whole session when any listed provider's libraries are
 * missing (`['cuda', 'cpu']` without libcudart does not fall back), and onnxruntime-common silently drops a
 * name the binding was not compiled with (`['dml', 'cpu']` quietly becomes CPU). So an unregistered name
 * is skipped here with a reason, never passed on.
 *
 * With `requireGpu`, 'cpu' is never tried: refusing to start beats running a line on an unexpected CPU.
 * Throws LinesideError LS_EP_UNAVAILABLE (no provider opened) or LS_MODEL_INVALID (the CPU provider, which
 * always exists, could not load the model: the model is at fault, not the provider).
 */
export async function selectExecutionProvider<S>(options: SelectProviderOptions<S>): Promise<ProviderSelection<S>> {
  const registered = new Set(options.registered.map((backend) => backend.name));
  const attempts: ProviderAttempt[] = [];
  const seen = new Set<ProviderName>();
  let cpuFailure: string | undefined;
  for (const provider of options.requested) {
    if (seen.has(provider)) continue;
    seen.add(provider);
    if (options.requireGpu && !GPU_PROVIDERS.has(provider)) {
      attempts.push({ provider, outcome: 'skipped', reason: 'require_gpu is set' });
      continue;
    }
    if (!registered.has(provider)) {
      attempts.push({
        provider,
        outcome: 'not-registered',
        reason: `this onnxruntime-node build has no '${provider}' provider (it has: ${[...registered].join(', ')})`,
      });
      continue;
    }
    try {
      const session = await options.open(provider);
      attempts.push({ provider, outcome: 'opened' });
      for (const rest of options.requested) {
        if (!seen.has(rest)) {
          seen.add(rest);
          attempts.push({ provider: rest, outcome: 'skipped', reason: `'${provider}' came first and works` });
        }
      }
      return { provider, session, attempts };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      attempts.push({ provider, outcome: 'failed', reason });
      if (provider === 'cpu') cpuFailure = reason;
    }
  }
  if (cpuFailure !== undefined) {
    throw new LinesideError('LS_MODEL_INVALID', `the model does not load in onnxruntime: ${cpuFailure}`);
  }
  const wanted = options.requireGpu
    ? 'no GPU execution provider could be used (require_gpu is set)'
    : 'no execution provider could be used';
  throw new LinesideError('LS_EP_UNAVAILABLE', `${wanted}: ${describeAttempts(attempts)}`);
}

/** `cuda: failed (libcudart.so.12 missing); cpu: opened` — one line for logs and errors. */
export function describeAttempts(attempts: readonly ProviderAttempt[]): string {
  return attempts.map((a) => `${a.provider}: ${a.outcome}${a.reason === undefined ? '' : ` (${a.reason})`}`).join('; ');
}

/**
 * Count, per provider, the graph nodes an onnxruntime profile (the JSON array written with
 * `enableProfiling`) shows running. Unknown provider types keep their onnxruntime name.
 */
export function nodeCountsFromProfile(events: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!Array.isArray(events)) return counts;
  for (const event of events as unknown[]) {
    if (typeof event !== 'object' || event === null) continue;
    const { cat, args } = event as { cat?: unknown; args?: unknown };
    if (cat !== 'Node' || typeof args !== 'object' || args === null) continue;
    const type = (args as { provider?: unknown }).provider;
    if (typeof type !== 'string') continue;
    const name = ORT_PROVIDER_TYPES[type] ?? type;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

export interface ReportedProvider {
  /** What ModelInfo.executionProvider says. */
  provider: string;
  /** Set when what runs differs from what was opened (degraded: worth a warn line). */
  warning?: string;
}

/**
 * The provider actually doing the work: the one that ran the most graph nodes in the profiled first run,
 * preferring any GPU provider over CPU (onnxruntime always places some small nodes on CPU). When the profile
 * is unavailable, the provider that opened is reported. Throws LS_EP_UNAVAILABLE when `requireGpu` is set and
 * every node ran on the CPU (a GPU provider that accepted nothing).
 */
export function reportedProvider(options: {
  opened: ProviderName;
  nodeCounts: Readonly<Record<string, number>>;
  requireGpu: boolean;
}): ReportedProvider {
  const entries = Object.entries(options.nodeCounts).filter(([, n]) => n > 0);
  let result: ReportedProvider;
  if (entries.length === 0) {
    result = { provider: options.opened };
  } else {
    const gpu = entries.filter(([name]) => name !== 'cpu').sort((a, b) => b[1] - a[1]);
    const provider = gpu[0]?.[0] ?? 'cpu';
    result = { provider };
    if (provider !== options.opened) {
      const counts = entries.map(([name, n]) => `${name} ${n}`).join(', ');
      result.warning = `'${options.opened}' was opened but the graph nodes ran on: ${counts}; reporting '${provider}'`;
    }
  }
  if (options.requireGpu && !GPU_PROVIDERS.has(result.provider)) {
    throw new LinesideError(
      'LS_EP_UNAVAILABLE',
      `require_gpu is set but the model runs on '${result.provider}'${result.warning === undefined ? '' : ` (${result.warning})`}`,
    );
  }
  return result;
}
