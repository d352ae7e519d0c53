import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinesideError } from '../../../src/errors.js';
import { judgeFiles, listFiles, type Judgement } from '../../../src/inference/batch.js';
import type { Inspection, Inspector, ModelInfo } from '../../../src/domain/ports.js';
import { makeFifo, releaseFifo, within } from '../fifo.js';
import { tempDir } from './helpers.js';

let dir: string;

beforeAll(async () => {
  dir = await tempDir('batch');
  await mkdir(path.join(dir, 'b', 'deeper'), { recursive: true });
  await writeFile(path.join(dir, 'a.jpeg'), 'a');
  await writeFile(path.join(dir, 'b', 'c.jpeg'), 'c');
  await writeFile(path.join(dir, 'b', 'deeper', 'd.png'), 'd');
  await writeFile(path.join(dir, '.hidden.jpeg'), 'h');
  await writeFile(path.join(dir, 'sparse.bin'), '');
  await truncate(path.join(dir, 'sparse.bin'), 3 * 1024 * 1024);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listFiles', () => {
  it('expands folders recursively in name order, skips dot-files, keeps explicit files, reports missing paths', async () => {
    const missing = path.join(dir, 'missing');
    const { files, failures } = await listFiles([path.join(dir, 'b'), path.join(dir, 'a.jpeg'), missing]);
    expect(files).toEqual([
      path.join(dir, 'b', 'c.jpeg'),
      path.join(dir, 'b', 'deeper', 'd.png'),
      path.join(dir, 'a.jpeg'),
    ]);
    expect(failures).toEqual([expect.objectContaining({ file: missing, code: 'LS_FILE_UNREADABLE' })]);
    const all = await listFiles([dir]);
    expect(all.files.map((f) => path.relative(dir, f))).toEqual(['a.jpeg', 'b/c.jpeg', 'b/deeper/d.png', 'sparse.bin']);
  });
});

/**
 * An Inspector whose answers complete out of order on purpose: "a" answers only after another image has been
 * answered. Fails on "bad".
 */
class DelayInspector implements Inspector {
  inFlight = 0;
  maxInFlight = 0;
  private answeredOther: () => void = () => undefined;
  private readonly otherAnswered = new Promise<void>((resolve) => {
    this.answeredOther = resolve;
  });
  readonly info: ModelInfo = {
    name: 'delay',
    version: '0',
    sha256: '0'.repeat(64),
    threshold: 0.5,
    executionProvider: 'cpu',
    requestedProviders: ['cpu'],
  };

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async inspect(image: Buffer): Promise<Inspection> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const text = image.toString();
    if (text === 'a') await this.otherAnswered;
    else await new Promise((resolve) => setImmediate(resolve));
    this.inFlight -= 1;
    if (text === 'bad') throw new LinesideError('LS_IMAGE_DECODE', 'bad image');
    if (text !== 'a') this.answeredOther();
    return { defectScore: 0.25, verdict: 'ok', threshold: 0.5, preprocessMs: 1, inferenceMs: 1 };
  }
}

describe('judgeFiles', () => {
  it('reports every file once, in input order, with bounded concurrency, and a failure never stops the rest', async () => {
    await writeFile(path.join(dir, 'bad.jpeg'), 'bad');
    const files = [
      path.join(dir, 'a.jpeg'),
      path.join(dir, 'bad.jpeg'),
      path.join(dir, 'nope.jpeg'),
      path.join(dir, 'b', 'c.jpeg'),
    ];
    const inspector = new DelayInspector();
    const seen: [number, Judgement][] = [];
    await judgeFiles(inspector, files, {
      concurrency: 2,
      maxFileBytes: 1024,
      onJudgement: (j, i) => seen.push([i, j]),
    });
    expect(seen.map(([i, j]) => [i, j.file])).toEqual(files.map((f, i) => [i, f]));
    expect(seen.map(([, j]) => ('failure' in j ? j.failure.code : j.inspection.verdict))).toEqual([
      'ok',
      'LS_IMAGE_DECODE',
      'LS_FILE_UNREADABLE',
      'ok',
    ]);
    expect(inspector.maxInFlight).toBeLessThanOrEqual(2);
  });

  it('refuses FIFOs among the files at once (lineside classify DIR with pipes in it); the others are judged', async () => {
    const fifos = Array.from({ length: 6 }, (_, i) => makeFifo(path.join(dir, `pipe-${i}.jpeg`)));
    const files = [path.join(dir, 'a.jpeg'), ...fifos, path.join(dir, 'b', 'c.jpeg')];
    const seen: Judgement[] = [];
    try {
      await within(
        judgeFiles(new DelayInspector(), files, {
          concurrency: 4,
          maxFileBytes: 1024,
          onJudgement: (j) => seen.push(j),
        }),
        10_000,
        'judgeFiles',
      );
    } finally {
      for (const fifo of fifos) releaseFifo(fifo);
      await Promise.all(fifos.map((fifo) => rm(fifo)));
    }
    expect(
      seen.map((j) => ('failure' in j ? `${j.failure.code}: ${j.failure.message}` : j.inspection.verdict)),
    ).toEqual(['ok', ...fifos.map(() => 'LS_FILE_UNREADABLE: not a regular file (a FIFO)'), 'ok']);
  });

  it('refuses a file over maxFileBytes unread', async () => {
    const seen: Judgement[] = [];
    await judgeFiles(new DelayInspector(), [path.join(dir, 'sparse.bin')], {
      concurrency: 1,
      maxFileBytes: 1024 * 1024,
      onJudgement: (j) => seen.push(j),
    });
    expect(seen.map((j) => ('failure' in j ? j.failure.code : j.inspection.verdict))).toEqual(['LS_IMAGE_TOO_LARGE']);
  });

  it('stops taking new files when its signal is aborted', async () => {
    const controller = new AbortController();
    const files = Array.from({ length: 10 }, () => path.join(dir, 'b', 'c.jpeg'));
    let count = 0;
    await judgeFiles(new DelayInspector(), files, {
      concurrency: 1,
      maxFileBytes: 1024,
      signal: controller.signal,
      onJudgement: () => {
        count += 1;
        if (count === 3) controller.abort();
      },
    });
    expect(count).toBe(3);
  });
});
