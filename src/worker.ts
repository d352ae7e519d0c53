import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker from its module URL. Production runs compiled .js; tests and `tsx` runs have .ts sources,
 * which a bare worker cannot load: on Node 20 `execArgv: ['--import', 'tsx']` does not reach the worker's
 * entry module, so a one-line bootstrap registers tsx's loader inside the worker and then imports the entry.
 */
export function startWorker(url: URL, options: WorkerOptions): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** A module next to `base` (an import.meta.url): .js when compiled, .ts when run from source (tsx, vitest). */
export function siblingModule(base: string, name: string): URL {
  const extension = base.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./${name}.${extension}`, base);
}
