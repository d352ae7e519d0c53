import { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';

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
