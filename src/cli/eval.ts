import { stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { judgeFiles, listFiles, type FileFailure } from '../inference/batch.js';
import type { ModelInfo } from '../domain/ports.js';
import type { Verdict } from '../domain/part.js';
import type { WorkerInspector } from '../inference/worker-inspector.js';
import {
  EXIT_STATUS_HELP,
  MAX_FILE_BYTES,
  MODEL_FLAGS,
  MODEL_OPTIONS_HELP,
  modelOptions,
  startInspector,
  watchOutput,
  type ModelOptions,
} from './classify.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

/** The dataset's folder names: the label of an image is the folder it sits in. */
export const LABEL_FOLDERS: Readonly<Record<Verdict, string>> = { defective: 'def_front', ok: 'ok_front' };

const CONCURRENCY = 4;
const PROGRESS_INTERVAL_MS = 100;

const EVAL_HELP = `usage: lineside eval --data DIR [options]

Judge every image under DIR/${LABEL_FOLDERS.defective}/ (defective parts) and DIR/${LABEL_FOLDERS.ok}/ (good parts) and
report how the model did: confusion matrix, accuracy, precision/recall/F1 per class, escapes (defective
judged ok), false rejects (ok judged defective), the files it got wrong, and the files it could not judge.
A progress bar is drawn on stderr when it is a terminal.

options:
  --data DIR          folder holding ${LABEL_FOLDERS.defective}/ and ${LABEL_FOLDERS.ok}/ (required)
  --json              print one JSON object instead (last line of stdout): total, accuracy, escapes,
                      false_rejects, confusion {tp, fn, fp, tn} (defective is positive), per_class,
                      mistakes [{file, label, verdict, defect_score}], errors [{file, code, message}], ...
${MODEL_OPTIONS_HELP}
  --help              this text

${EXIT_STATUS_HELP}`;

export interface LabelledOutcome {
  /** Relative to the data folder, e.g. def_front/cast_def_0_12.jpeg. */
  file: string;
  label: Verdict;
  verdict: Verdict;
  defectScore: number;
}

export interface ClassMetrics {
  precision: number | null;
  recall: number | null;
  f1: number | null;
  support: number;
}

export interface EvalReport {
  total: number;
  accuracy: number | null;
  escapes: number;
  false_rejects: number;
  /** Defective is the positive class. */
  confusion: { tp: number; fn: number; fp: number; tn: number };
  per_class: { defective: ClassMetrics; ok: ClassMetrics };
  mistakes: { file: string; label: Verdict; verdict: Verdict; defect_score: number }[];
  errors: FileFailure[];
}

/** The figures for judged images (and the list of those that could not be judged). Pure. */
export function summariseEval(outcomes: readonly LabelledOutcome[], errors: readonly FileFailure[]): EvalReport {
  const confusion = { tp: 0, fn: 0, fp: 0, tn: 0 };
  const mistakes: EvalReport['mistakes'] = [];
  for (const o of outcomes) {
    if (o.label === 'defective') {
      if (o.verdict === 'defective') confusion.tp += 1;
      else confusion.fn += 1;
    } else if (o.verdict === 'defective') confusion.fp += 1;
    else confusion.tn += 1;
    if (o.label !== o.verdict)
      mistakes.push({ file: o.file, label: o.label, verdict: o.verdict, defect_score: o.defectScore });
  }
  const { tp, fn, fp, tn } = confusion;
  const total = outcomes.length;
  return {
    total,
    accuracy: ratio(tp + tn, total),
    escapes: fn,
    false_rejects: fp,
    confusion,
    per_class: { defective: classMetrics(tp, fp, fn), ok: classMetrics(tn, fn, fp) },
    mistakes,
    errors: [...errors],
  };
}

function classMetrics(truePositive: number, falsePositive: number, falseNegative: number): ClassMetrics {
  const precision = ratio(truePositive, truePositive + falsePositive);
  const recall = ratio(truePositive, truePositive + falseNegative);
  const f1 =
    precision === null || recall === null || precision + recall === 0
      ? null
      : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, support: truePositive + falseNegative };
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}

export async function runEval(argv: string[], io: CliIo): Promise<number> {
  const args = parseEvalArgs(argv, io);
  if (typeof args === 'number') return args;
  const missingFolder = await missingLabelFolder(args.dataDir);
  if (missingFolder !== undefined) {
    const expected = `${LABEL_FOLDERS.defective}/ and ${LABEL_FOLDERS.ok}/`;
    io.stderr.write(`--data ${args.dataDir}: no ${missingFolder}/ folder in it (expected ${expected})\n`);
    return EXIT.USAGE;
  }
  const listed = await listLabelledFiles(args.dataDir);
  const inspector = await startInspector(args.options, io);
  if (typeof inspector === 'number') return inspector;
  const run = await judgeLabelledFiles(inspector, listed, args.dataDir, io);
  const report = summariseEval(run.outcomes, [...listed.errors, ...run.errors]);
  if (run.outputClosed) return EXIT.FAILURE;
  writeEvalReport(io, { report, run, images: listed.items.length, json: args.json });
  if (run.interrupted) return EXIT.FAILURE;
  return report.errors.length > 0 ? EXIT.PARTIAL : EXIT.OK;
}

interface EvalArgs {
  dataDir: string;
  json: boolean;
  options: ModelOptions;
}

/** The command line, or the exit status when it asks for help or is wrong (the message already written). */
function parseEvalArgs(argv: string[], io: CliIo): EvalArgs | number {
  const line = parseCommandLine(argv, {
    data: { type: 'string' },
    ...MODEL_FLAGS,
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (line.problem !== undefined) return usageError(io, line.problem, EVAL_HELP);
  const flags = line.values;
  if (flags.help === true) {
    io.stdout.write(`${EVAL_HELP}\n`);
    return EXIT.OK;
  }
  const dataDir = flags.data;
  if (dataDir === undefined) return usageError(io, '--data DIR is required', EVAL_HELP);
  const options = modelOptions(flags);
  if (typeof options === 'string') {
    io.stderr.write(`${options}\n`);
    return EXIT.USAGE;
  }
  return { dataDir, json: flags.json === true, options };
}

/** The first label folder that is not a directory under dataDir, or undefined when both are. */
async function missingLabelFolder(dataDir: string): Promise<string | undefined> {
  for (const folder of Object.values(LABEL_FOLDERS)) {
    const isDir = await stat(path.join(dataDir, folder)).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) return folder;
  }
  return undefined;
}

interface LabelledFile {
  file: string;
  label: Verdict;
}

interface LabelledListing {
  /** Defective first, then ok; file paths as listed (under dataDir). */
  items: LabelledFile[];
  /** Files that could not be listed, relative to dataDir. */
  errors: FileFailure[];
}

async function listLabelledFiles(dataDir: string): Promise<LabelledListing> {
  const items: LabelledFile[] = [];
  const errors: FileFailure[] = [];
  for (const label of ['defective', 'ok'] as const) {
    const listed = await listFiles([path.join(dataDir, LABEL_FOLDERS[label])]);
    for (const file of listed.files) items.push({ file, label });
    errors.push(...listed.failures.map((f) => ({ ...f, file: path.relative(dataDir, f.file) })));
  }
  return { items, errors };
}

interface EvalRun {
  info: ModelInfo;
  outcomes: LabelledOutcome[];
  /** Files that could not be judged, relative to dataDir, in the order they were judged. */
  errors: FileFailure[];
  /** From the first judgement to the inspector having stopped. */
  elapsedMs: number;
  interrupted: boolean;
  /** stdout went away: nothing more can be reported. */
  outputClosed: boolean;
}

/** Judge every listed file, drawing progress on a terminal, and always stop the inspector. */
async function judgeLabelledFiles(
  inspector: WorkerInspector,
  listed: LabelledListing,
  dataDir: string,
  io: CliIo,
): Promise<EvalRun> {
  const { items } = listed;
  const outcomes: LabelledOutcome[] = [];
  const errors: FileFailure[] = [];
  const progress = io.isTTY ? new ProgressBar(io.stderr, items.length) : undefined;
  const started = performance.now();
  const output = watchOutput(io);
  let info: ModelInfo;
  try {
    info = inspector.info;
    await judgeFiles(
      inspector,
      items.map((item) => item.file),
      {
        concurrency: CONCURRENCY,
        maxFileBytes: MAX_FILE_BYTES,
        signal: output.signal,
        onJudgement: (judgement, index) => {
          const item = items[index] as LabelledFile;
          const file = path.relative(dataDir, judgement.file);
          if ('failure' in judgement) errors.push({ ...judgement.failure, file });
          else
            outcomes.push({
              file,
              label: item.label,
              verdict: judgement.inspection.verdict,
              defectScore: judgement.inspection.defectScore,
            });
          progress?.update(index + 1, listed.errors.length + errors.length);
        },
      },
    );
  } finally {
    output.dispose();
    progress?.finish();
    await inspector.stop();
  }
  const elapsedMs = performance.now() - started;
  return { info, outcomes, errors, elapsedMs, interrupted: output.signal.aborted, outputClosed: output.closed() };
}

/** The report on stdout: one JSON line with --json, the human-readable tables otherwise. */
function writeEvalReport(io: CliIo, what: { report: EvalReport; run: EvalRun; images: number; json: boolean }): void {
  const { report, run, images } = what;
  const { info, elapsedMs, interrupted } = run;
  if (!what.json) {
    io.stdout.write(formatReport(report, info, images, elapsedMs, interrupted));
    return;
  }
  io.stdout.write(
    `${JSON.stringify({
      ...report,
      interrupted,
      images,
      threshold: info.threshold,
      model: {
        name: info.name,
        version: info.version,
        sha256: info.sha256,
        execution_provider: info.executionProvider,
      },
      elapsed_ms: Math.round(elapsedMs),
    })}\n`,
  );
}

export function formatReport(
  report: EvalReport,
  info: ModelInfo,
  images: number,
  elapsedMs: number,
  interrupted: boolean,
): string {
  const { tp, fn, fp, tn } = report.confusion;
  const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const num = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(4));
  const rate = elapsedMs > 0 ? Math.round((report.total + report.errors.length) / (elapsedMs / 1000)) : 0;
  const width = Math.max(5, String(Math.max(tp, fn, fp, tn)).length);
  const cell = (n: number): string => String(n).padStart(width + 12);
  const lines = [
    `model ${info.name} ${info.version} on ${info.executionProvider}, threshold ${info.threshold}`,
    `${interrupted ? 'INTERRUPTED: ' : ''}judged ${report.total} of ${images} images in ${(elapsedMs / 1000).toFixed(1)} s (${rate} images/s)`,
    '',
    `${''.padEnd(18)}${'judged defective'.padStart(width + 12)}${'judged ok'.padStart(width + 12)}`,
    `${'actual defective'.padEnd(18)}${cell(tp)}${cell(fn)}`,
    `${'actual ok'.padEnd(18)}${cell(fp)}${cell(tn)}`,
    '',
    `accuracy  ${pct(report.accuracy)}`,
    `${'class'.padEnd(11)}${'precision'.padStart(10)}${'recall'.padStart(10)}${'F1'.padStart(10)}${'support'.padStart(10)}`,
    ...(['defective', 'ok'] as const).map((name) => {
      const m = report.per_class[name];
      return `${name.padEnd(11)}${num(m.precision).padStart(10)}${num(m.recall).padStart(10)}${num(m.f1).padStart(10)}${String(m.support).padStart(10)}`;
    }),
    '',
    `escapes (defective judged ok):       ${report.escapes}`,
    `false rejects (ok judged defective): ${report.false_rejects}`,
  ];
  if (report.mistakes.length > 0) {
    lines.push('', 'mistakes:');
    for (const m of report.mistakes) {
      lines.push(
        `  ${(m.label === 'defective' ? 'escape' : 'false reject').padEnd(13)} ${m.defect_score.toFixed(4)}  ${m.file}`,
      );
    }
  }
  lines.push('', `could not be judged: ${report.errors.length}`);
  for (const e of report.errors) lines.push(`  ${e.code}  ${e.file}: ${e.message}`);
  return `${lines.join('\n')}\n`;
}

/** A one-line bar on a terminal, redrawn at most every PROGRESS_INTERVAL_MS. */
class ProgressBar {
  readonly #out: NodeJS.WritableStream;
  readonly #total: number;
  readonly #startedMs = performance.now();
  #lastDrawMs = 0;

  constructor(out: NodeJS.WritableStream, total: number) {
    this.#out = out;
    this.#total = total;
  }

  update(done: number, errors: number): void {
    const now = performance.now();
    if (done < this.#total && now - this.#lastDrawMs < PROGRESS_INTERVAL_MS) return;
    this.#lastDrawMs = now;
    const fraction = this.#total === 0 ? 1 : done / this.#total;
    const filled = Math.round(fraction * 30);
    const perSecond = done / Math.max(0.001, (now - this.#startedMs) / 1000);
    const etaS = perSecond > 0 ? Math.ceil((this.#total - done) / perSecond) : 0;
    this.#out.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${done}/${this.#total} ${Math.floor(fraction * 100)}% ` +
        `${Math.round(perSecond)} img/s ETA ${etaS}s${errors > 0 ? `, ${errors} errors` : ''}\u001b[K`,
    );
  }

  finish(): void {
    this.#out.write('\r\u001b[K');
  }
}
