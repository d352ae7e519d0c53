import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { errorCode, errorMessage, type ErrorCode } from '../errors.js';
import { readRegularFile } from '../regular-file.js';
import type { Inspection, Inspector } from '../domain/ports.js';

export interface FileFailure {
  file: string;
  code: ErrorCode;
  message: string;
}

/** One file's outcome: an inspection, or the reason it could not be judged. */
export type Judgement =
  { file: string; inspection: Inspection; wallMs: number } | { file: string; failure: FileFailure; wallMs: number };

/**
 * Expand files and folders (recursively, in name order, skipping dot-files) into a file list. A path that
 * does not exist or cannot be listed becomes a failure; folder contents are not filtered by extension, so a
 * stray non-image is reported rather than silently skipped.
 */
export async function listFiles(paths: readonly string[]): Promise<{ files: string[]; failures: FileFailure[] }> {
  const files: string[] = [];
  const failures: FileFailure[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      failures.push({ file: dir, code: 'LS_FILE_UNREADABLE', message: `cannot list folder: ${errorMessage(err)}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() || entry.isSymbolicLink()) files.push(full);
    }
  };
  for (const given of paths) {
    try {
      const info = await stat(given);
      if (info.isDirectory()) await walk(given);
      else files.push(given);
    } catch (err) {
      failures.push({ file: given, code: 'LS_FILE_UNREADABLE', message: errorMessage(err) });
    }
  }
  return { files, failures };
}

export interface JudgeFilesOptions {
  /** Files read and inspected at once: enough to keep the worker's decoder and model busy, bounded for memory. */
  concurrency: number;
  maxFileBytes: number;
  /** Stops taking new files; those in flight finish. */
  signal?: AbortSignal;
  /** Called once per file, in the order of `files`. */
  onJudgement: (judgement: Judgement, index: number) => void;
  /** How one file is judged; default `inspector.inspect` (classify --cam explains and writes the map too). */
  judge?: (image: Buffer, file: string) => Promise<Inspection>;
}

/** Inspect every file with bounded concurrency; one file's failure never stops the others. */
export async function judgeFiles(
  inspector: Inspector,
  files: readonly string[],
  options: JudgeFilesOptions,
): Promise<void> {
  const done = new Map<number, Judgement>();
  let next = 0;
  let emitted = 0;
  const emit = (): void => {
    for (let judgement = done.get(emitted); judgement !== undefined; judgement = done.get(emitted)) {
      done.delete(emitted);
      options.onJudgement(judgement, emitted);
      emitted += 1;
    }
  };
  const lane = async (): Promise<void> => {
    while (next < files.length && options.signal?.aborted !== true) {
      const index = next++;
      const file = files[index] as string;
      const started = performance.now();
      let judgement: Judgement;
      try {
        const image = await readRegularFile(file, { maxBytes: options.maxFileBytes });
        const inspection = await (options.judge ? options.judge(image, file) : inspector.inspect(image));
        judgement = { file, inspection, wallMs: performance.now() - started };
      } catch (err) {
        judgement = {
          file,
          failure: { file, code: errorCode(err), message: errorMessage(err) },
          wallMs: performance.now() - started,
        };
      }
      done.set(index, judgement);
      emit();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, lane));
}
