import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

/** A named pipe at `file` (node has no mkfifo). */
export function makeFifo(file: string): string {
  execFileSync('mkfifo', [file]);
  return file;
}

/**
 * Frees any thread that code under test left blocked opening or reading `file` (on the libuv pool, where it would
 * otherwise stay until the process ends): a writer opens, which wakes the readers, and closes, which gives them EOF.
 * Non-blocking, so with no reader waiting it fails (ENXIO) instead of hanging; that is the good case.
 */
export function releaseFifo(file: string): void {
  try {
    closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // No reader is waiting: nothing to release.
  }
}

/** Settles like `promise`, or rejects after `ms`: a test of code that must not hang fails instead of hanging. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
