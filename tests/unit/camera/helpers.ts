import { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { TestContext } from 'vitest';
import { loadGphoto2Module } from '../../../src/camera/gphoto2.js';
import { errorMessage } from '../../../src/errors.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shared casting dataset (never copied into the project). */
export const DATASET_DIR = path.resolve(PROJECT_ROOT, '../shared/casting/train');

export interface MemoryLogger {
  logger: Logger;
  /** Raw JSON lines written so far. */
  lines: string[];
  entries(): Array<Record<string, unknown>>;
}

/** A real pino logger writing into memory, so tests can read what an operator would see. */
export function memoryLogger(): MemoryLogger {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

let gphoto2Addon: { unavailable: string | null } | undefined;

/**
 * Skips the test, saying why, when the real node-gphoto2 addon cannot be loaded. It is an optional dependency:
 * npm leaves it out when libgphoto2-dev is missing at `npm install`, which is the case when the README's first
 * command runs on a fresh machine before scripts/install-test-deps.sh (which installs it, then builds the addon).
 */
export function skipWithoutGphoto2Addon(ctx: TestContext): void {
  if (gphoto2Addon === undefined) {
    try {
      loadGphoto2Module();
      gphoto2Addon = { unavailable: null };
    } catch (err) {
      gphoto2Addon = { unavailable: errorMessage(err) };
    }
  }
  if (gphoto2Addon.unavailable === null) return;
  const note = `skipped: the optional node-gphoto2 addon cannot be loaded here; bash scripts/install-test-deps.sh installs libgphoto2-dev and builds it (${gphoto2Addon.unavailable})`;
  // Also on stderr: the default reporter does not print skip notes.
  console.warn(`${ctx.task.name}: ${note}`);
  ctx.skip(note);
}
