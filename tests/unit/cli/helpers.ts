import { PassThrough } from 'node:stream';
import type { CliIo } from '../../../src/cli/io.js';

export interface CapturedIo {
  io: CliIo;
  stdout: () => string;
  stderr: () => string;
}

/** A CliIo whose output the test reads back. */
export function captureIo(options: { isTTY?: boolean; signal?: AbortSignal } = {}): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString('utf8')));
  return {
    io: {
      stdout,
      stderr,
      isTTY: options.isTTY ?? false,
      env: {},
      signal: options.signal ?? new AbortController().signal,
      logStream: () => ({ write: (line: string) => err.push(line) }),
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
