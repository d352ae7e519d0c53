import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { GpiodGpioConfig } from '../../config/sections/gpio.js';
import { LinesideError } from '../../errors.js';
import { describeCause, monotonicMinusPerfMs } from './line-core.js';

/** Converts kernel event timestamps to the performance.now() base of this process. */
export interface KernelClock {
  toPerfMs(sec: number, nsec: number): number;
}

/** Any kernel timestamp later than 2001-09-09 is wall-clock time; CLOCK_MONOTONIC is time since boot. */
const REALTIME_THRESHOLD_MS = 1e12;

/**
 * Linux 5.7+ stamps GPIO events with CLOCK_MONOTONIC (ktime_get_ns); older kernels used CLOCK_REALTIME.
 * process.hrtime is CLOCK_MONOTONIC on Linux, so one offset (monotonicMinusPerfMs) converts exactly.
 */
export function createKernelClock(): KernelClock {
  const offsetMs = monotonicMinusPerfMs();
  return {
    toPerfMs(sec: number, nsec: number): number {
      const kernelMs = sec * 1000 + nsec / 1e6;
      if (kernelMs > REALTIME_THRESHOLD_MS) return kernelMs - (Date.now() - performance.now());
      return kernelMs - offsetMs;
    },
  };
}

/** What the gpiod lines need of their driver (GpiodGpio). */
export interface GpiodLineHost {
  readonly config: GpiodGpioConfig;
  readonly clock: KernelClock;
  requireStarted(name: string): void;
  reportError(err: LinesideError, line: string): void;
}

const execFileAsync = promisify(execFile);

/** Rejects unless `tool --version` runs and reports libgpiod 1.x, the command-line syntax lineside drives. */
export async function checkToolVersion(tool: string): Promise<void> {
  let version: string;
  try {
    ({ stdout: version } = await execFileAsync(tool, ['--version'], { timeout: 5000 }));
  } catch (cause) {
    throw new LinesideError(
      'LS_GPIO_UNAVAILABLE',
      `cannot run ${tool} --version (${describeCause(cause)}); install the gpiod package (libgpiod 1.6 tools)`,
      { cause },
    );
  }
  const match = /v(\d+)\.(\d+)/.exec(version);
  if (!match || match[1] !== '1') {
    throw new LinesideError(
      'LS_GPIO_UNAVAILABLE',
      `${tool} reports "${version.split('\n')[0] ?? ''}": lineside drives the libgpiod 1.x command-line syntax (1.6 tested); libgpiod 2.x tools are not supported yet`,
    );
  }
}

const STDERR_KEEP_CHARS = 2000;
const KILL_GRACE_MS = 1000;

export interface Spawned {
  child: ChildProcess;
  stderr: () => string;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
}

export function tail(text: string): string {
  return text.trim().slice(-300) || '(no stderr)';
}

/** Spawn a tool and resolve once exec succeeded (the 'spawn' event); rejects if exec fails (ENOENT, EACCES). */
export function spawnTool(
  command: string,
  args: string[],
  stdin: 'pipe' | 'ignore',
  stdout: 'pipe' | 'ignore',
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdin, stdout, 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
    });
    const onError = (err: Error): void => reject(err);
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      // A later 'error' (failed kill) must not become an uncaught exception.
      child.on('error', () => undefined);
      resolve({ child, stderr: () => stderr });
    });
  });
}

/** Wait `ms` for the child to die; resolves with its exit if it did, null if it is still running. */
export function exitWithin(child: ChildProcess, ms: number, signal?: AbortSignal): Promise<ChildExit | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  if (signal?.aborted) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = (result: ChildExit | null): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => done({ code, signal: sig });
    const onAbort = (): void => done(null);
    const timer = setTimeout(() => done(null), ms);
    child.once('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * End a child: close its stdin (the gpioset supervisor drives the safe level and exits on EOF) or send SIGTERM;
 * escalate to SIGTERM, then SIGKILL, if it does not exit within a grace period.
 */
export async function endChild(child: ChildProcess, how: 'stdin' | 'sigterm'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (how === 'stdin' && child.stdin) {
    child.stdin.end();
    if ((await exitWithin(child, 2 * KILL_GRACE_MS)) !== null) return;
  }
  child.kill('SIGTERM');
  if ((await exitWithin(child, KILL_GRACE_MS)) === null) {
    child.kill('SIGKILL');
    await exitWithin(child, KILL_GRACE_MS);
  }
}

export function describeExit(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}
