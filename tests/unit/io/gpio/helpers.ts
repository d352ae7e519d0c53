import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines the test can read back. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; errors: () => LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, lines, errors: () => lines.filter((l) => l.level >= 50) };
}

export const signal = new AbortController().signal;
