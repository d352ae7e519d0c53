import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The real guard, in a real worker thread: tsx's loader is registered inside the worker to load our TypeScript. */
function startOnoffInWorker(): Promise<{ code?: string; message?: string; ok?: boolean; onoffLoaded: boolean }> {
  const tsxPackage = require.resolve('tsx/package.json');
  const tsxExports = (require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> })
    .exports;
  const tsxApi = pathToFileURL(join(dirname(tsxPackage), tsxExports['./esm/api']!.import.default)).href;
  const code = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import(workerData.tsxApi);
  register();
  const { createGpio } = await import(workerData.index);
  const { pino } = await import(workerData.pino);
  const driver = createGpio({ type: 'onoff' }, { logger: pino({ level: 'silent' }) });
  const onoffLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/onoff/') || k.includes('/node_modules/epoll/'));
  try {
    await driver.start(new AbortController().signal);
    parentPort.postMessage({ ok: true, onoffLoaded: onoffLoaded() });
  } catch (err) {
    parentPort.postMessage({ code: err.code, message: err.message, onoffLoaded: onoffLoaded() });
  }
})();
`;
  const worker = new Worker(code, {
    eval: true,
    workerData: {
      tsxApi,
      index: pathToFileURL(join(root, 'src/io/gpio/index.ts')).href,
      pino: pathToFileURL(require.resolve('pino')).href,
    },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { code?: string; message?: string; ok?: boolean; onoffLoaded: boolean }) => {
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', reject);
  });
}

describe('onoff driver in a worker thread', () => {
  it('refuses with LS_GPIO_UNAVAILABLE before loading onoff (its epoll addon crashes in a second worker)', async () => {
    const result = await startOnoffInWorker();
    expect(result.code).toBe('LS_GPIO_UNAVAILABLE');
    expect(result.message).toMatch(/main thread/);
    expect(result.onoffLoaded).toBe(false);
  });
});
