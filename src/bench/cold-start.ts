/** Cold start: a fresh `lineside run` process, from spawn to its READY log line. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, writeLineConfig } from './line-config.js';

/**
 * Spawns the same entry point this process runs (`process.argv[1]`, with its node flags: dist/main.js, or
 * src/main.ts under tsx) as `run --config` on a generated demo config, and times spawn to the 'ready' line.
 * Null when no ready line came within 60 s.
 */
export async function coldStartMs(mainScript: string | undefined = process.argv[1]): Promise<number | null> {
  if (mainScript === undefined) return null;
  const dir = await mkdtemp(path.join(tmpdir(), 'lineside-bench-cold-'));
  try {
    const file = await writeLineConfig({ partsPerSecond: 2, dir, port: await freePort() });
    const started = performance.now();
    const child = spawn(process.execPath, [...process.execArgv, mainScript, 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, NOTIFY_SOCKET: '' },
    });
    const readyMs = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 60_000);
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        if (lines.some((l) => /"msg":"ready\b/.test(l))) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
      child.once('exit', () => resolve(null));
    });
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    return readyMs;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
