import { readFile, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval, summariseEval, type EvalReport, type LabelledOutcome } from '../../../src/cli/eval.js';
import { WorkerInspector } from '../../../src/inference/worker-inspector.js';
import { BUNDLE_DIR, datasetImages, inferenceConfig, tempDir, writeBadFiles } from '../inference/helpers.js';
import { captureIo, jsonLines } from './helpers.js';

/** The --json object, as far as these tests read it. */
interface EvalJson extends EvalReport {
  model: { execution_provider: string };
}

const PER_CLASS = 16;
let dir: string;
let cleanData: string;
let dirtyData: string;
let badFiles: Record<string, string>;
/** Verdicts the inspector gives each image directly: what the command's figures must agree with. */
const direct = new Map<string, 'ok' | 'defective'>();

async function linkSubset(root: string): Promise<void> {
  for (const [label, folder] of [
    ['defective', 'def_front'],
    ['ok', 'ok_front'],
  ] as const) {
    await mkdir(path.join(root, folder), { recursive: true });
    for (const file of datasetImages(label, PER_CLASS))
      await symlink(file, path.join(root, folder, path.basename(file)));
  }
}

function expectedConfusion(): { tp: number; fn: number; fp: number; tn: number } {
  const c = { tp: 0, fn: 0, fp: 0, tn: 0 };
  for (const [file, verdict] of direct) {
    const defective = file.startsWith('def_front/');
    if (defective) c[verdict === 'defective' ? 'tp' : 'fn'] += 1;
    else c[verdict === 'defective' ? 'fp' : 'tn'] += 1;
  }
  return c;
}

describe('lineside eval', () => {
  beforeAll(async () => {
    dir = await tempDir('eval');
    cleanData = path.join(dir, 'clean');
    dirtyData = path.join(dir, 'dirty');
    await linkSubset(cleanData);
    await linkSubset(dirtyData);
    badFiles = await writeBadFiles(path.join(dirtyData, 'def_front'));

    const inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig() });
    await inspector.start(new AbortController().signal);
    try {
      for (const label of ['defective', 'ok'] as const) {
        for (const file of datasetImages(label, PER_CLASS)) {
          const folder = label === 'defective' ? 'def_front' : 'ok_front';
          direct.set(`${folder}/${path.basename(file)}`, (await inspector.inspect(await readFile(file))).verdict);
        }
      }
    } finally {
      await inspector.stop();
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--json: confusion matrix, accuracy, escapes and false rejects over real labelled images', async () => {
    const { io, stdout, stderr } = captureIo();
    const status = await runEval(['--model', BUNDLE_DIR, '--data', cleanData, '--json'], io);
    expect(status).toBe(0);
    const report = jsonLines(stdout()).at(-1) as unknown as EvalJson;
    const confusion = expectedConfusion();
    expect(report.total).toBe(2 * PER_CLASS);
    expect(report.confusion).toEqual(confusion);
    expect(report.escapes).toBe(confusion.fn);
    expect(report.false_rejects).toBe(confusion.fp);
    expect(report.accuracy).toBeCloseTo((confusion.tp + confusion.tn) / (2 * PER_CLASS), 10);
    expect(report.errors).toEqual([]);
    // The shipped model: no defective casting of this subset escapes.
    expect(report.escapes).toBe(0);
    expect(report.accuracy).toBeGreaterThanOrEqual(0.75);
    expect(report.mistakes).toHaveLength(confusion.fn + confusion.fp);
    expect(report.per_class.defective.support).toBe(PER_CLASS);
    expect(report.per_class.ok.support).toBe(PER_CLASS);
    expect(report.model.execution_provider).toBe('cpu');
    // No progress bar when stderr is not a terminal.
    expect(stderr()).not.toContain('\r');
  });

  it('lists files that could not be judged with codes, still scores the rest, and exits 2', async () => {
    const { io, stdout } = captureIo();
    const status = await runEval(['--model', BUNDLE_DIR, '--data', dirtyData, '--json'], io);
    expect(status).toBe(2);
    const report = jsonLines(stdout()).at(-1) as unknown as EvalJson;
    expect(report.total).toBe(2 * PER_CLASS);
    expect(report.confusion).toEqual(expectedConfusion());
    const errors = report.errors;
    expect(Object.fromEntries(errors.map((e) => [e.file, e.code]))).toEqual(
      Object.fromEntries(Object.entries(badFiles).map(([name, code]) => [`def_front/${name}`, code])),
    );
    for (const e of errors) expect(e.message).not.toBe('');
  });

  it('prints a readable report, and a progress bar on a terminal', async () => {
    const { io, stdout, stderr } = captureIo({ isTTY: true });
    const status = await runEval(['--model', BUNDLE_DIR, '--data', dirtyData], io);
    expect(status).toBe(2);
    const text = stdout();
    const confusion = expectedConfusion();
    expect(text).toMatch(new RegExp(`actual defective\\s+${confusion.tp}\\s+${confusion.fn}\\n`));
    expect(text).toMatch(new RegExp(`actual ok\\s+${confusion.fp}\\s+${confusion.tn}\\n`));
    expect(text).toContain(`escapes (defective judged ok):       ${confusion.fn}`);
    expect(text).toMatch(/defective\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}\s+16/);
    expect(text).toContain('could not be judged: 4');
    expect(text).toMatch(/LS_IMAGE_TOO_LARGE\s+def_front\/huge\.png/);
    expect(stderr()).toMatch(/\r\[#+\.*\] \d+\/36/);
  });

  it('exits 64 without --data, or when DIR lacks def_front/ and ok_front/', async () => {
    for (const argv of [[], ['--data', dir], ['--data', path.join(dir, 'nowhere')], ['--data', cleanData, 'extra']]) {
      const { io, stderr } = captureIo();
      expect(await runEval(argv, io), argv.join(' ')).toBe(64);
      expect(stderr()).not.toBe('');
    }
  });
});

describe('summariseEval', () => {
  const outcome = (label: 'ok' | 'defective', verdict: 'ok' | 'defective', i: number): LabelledOutcome => ({
    file: `${label}/${i}.jpeg`,
    label,
    verdict,
    defectScore: verdict === 'defective' ? 0.9 : 0.1,
  });

  it('computes per-class precision, recall and F1 with defective as the positive class', () => {
    const outcomes = [
      ...Array.from({ length: 8 }, (_, i) => outcome('defective', 'defective', i)),
      ...Array.from({ length: 2 }, (_, i) => outcome('defective', 'ok', i)),
      ...Array.from({ length: 1 }, (_, i) => outcome('ok', 'defective', i)),
      ...Array.from({ length: 9 }, (_, i) => outcome('ok', 'ok', i)),
    ];
    const report = summariseEval(outcomes, []);
    expect(report.confusion).toEqual({ tp: 8, fn: 2, fp: 1, tn: 9 });
    expect(report.accuracy).toBeCloseTo(17 / 20);
    expect(report.per_class.defective.precision).toBeCloseTo(8 / 9);
    expect(report.per_class.defective.recall).toBeCloseTo(8 / 10);
    expect(report.per_class.defective.f1).toBeCloseTo((2 * (8 / 9) * 0.8) / (8 / 9 + 0.8));
    expect(report.per_class.ok.precision).toBeCloseTo(9 / 11);
    expect(report.per_class.ok.recall).toBeCloseTo(9 / 10);
    expect(report.mistakes.map((m) => m.label)).toEqual(['defective', 'defective', 'ok']);
  });

  it('reports undefined ratios as null instead of dividing by zero', () => {
    const report = summariseEval([], [{ file: 'x', code: 'LS_IMAGE_DECODE', message: 'empty' }]);
    expect(report.accuracy).toBeNull();
    expect(report.per_class.defective).toEqual({ precision: null, recall: null, f1: null, support: 0 });
    expect(report.errors).toHaveLength(1);
  });
});
