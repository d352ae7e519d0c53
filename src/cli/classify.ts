import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inferenceSection, type InferenceConfig } from '../config/sections/inference.js';
import { errorCode, errorMessage, type ErrorCode } from '../errors.js';
import { judgeFiles, listFiles, type FileFailure, type Judgement } from '../inference/batch.js';
import type { ProviderName } from '../inference/providers.js';
import { WorkerInspector } from '../inference/worker-inspector.js';
import { createLogger } from '../log.js';
import { camJudge } from './cam-output.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

/** The shipped bundle, found from the package root so the commands work from any directory. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/casting-cnn', import.meta.url));

/** A file bigger than this is refused unread; the model works on 300x300 images. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Files in flight at once: keeps the worker's decoder and model busy on a 2-core box, memory bounded. */
const CONCURRENCY = 4;

/** Offline commands are not racing a conveyor: allow slow decodes of large images instead of failing them. */
const OFFLINE_TIMEOUT_MS = 60_000;
/** ...but a worker silent this long with files outstanding is stuck, and is replaced. */
const OFFLINE_HANG_AFTER_MS = 30_000;

const PROVIDER_NAMES: readonly string[] = inferenceSection.shape.execution_providers.unwrap().element.options;

export const MODEL_OPTIONS_HELP = `  --model DIR         model bundle directory (default: the shipped models/casting-cnn)
  --providers LIST    execution providers to try in order, comma-separated: ${PROVIDER_NAMES.join(', ')} (default: cpu)`;

export const EXIT_STATUS_HELP = `exit status:
  0   every file was judged
  1   interrupted
  2   some files could not be read or decoded (listed with an error code)
  64  usage error
  69  no usable execution provider (LS_EP_UNAVAILABLE)
  70  internal error
  78  the model bundle is missing, invalid or fails its checksum (LS_MODEL_*)`;

const CLASSIFY_HELP = `usage: lineside classify [options] PATH...

Classify image files; folders are searched recursively. One line per file on stdout:
  VERDICT  SCORE  MS  PATH        (VERDICT is ok or defective; MS is preprocessing + inference time)
  error  CODE  PATH: MESSAGE      (for a file that could not be judged)

options:
  --json              one JSON object per file instead:
                      {"file","verdict","defect_score","threshold","preprocess_ms","inference_ms"}
                      or {"file","error":{"code","message"}}
  --cam DIR           also write each image's class-activation heat map (where the model looked) as
                      DIR/NAME.cam.png: grey, at the model input size, white = strongest evidence of a defect
${MODEL_OPTIONS_HELP}
  --help              this text

${EXIT_STATUS_HELP}`;

/** The parseArgs options behind MODEL_OPTIONS_HELP, shared by classify and eval. */
export const MODEL_FLAGS = { model: { type: 'string' }, providers: { type: 'string' } } as const;

export interface ModelOptions {
  bundleDir: string;
  inference: InferenceConfig;
}

/** --model and --providers; returns a usage message instead when they are wrong. */
export function modelOptions(flags: {
  model?: string | undefined;
  providers?: string | undefined;
}): ModelOptions | string {
  const { model, providers: providersFlag } = flags;
  let providers: ProviderName[] = ['cpu'];
  if (providersFlag !== undefined) {
    const names = providersFlag
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const unknown = names.filter((name) => !PROVIDER_NAMES.includes(name));
    if (names.length === 0 || unknown.length > 0) {
      return `--providers: unknown provider ${unknown.map((n) => `'${n}'`).join(', ') || '(empty list)'} (valid: ${PROVIDER_NAMES.join(', ')})`;
    }
    providers = names as ProviderName[];
  }
  return {
    bundleDir: model ?? DEFAULT_MODEL_DIR,
    inference: inferenceSection.parse({ execution_providers: providers, timeout_ms: OFFLINE_TIMEOUT_MS }),
  };
}

/** Start a worker inspector for an offline command; on failure, report it and give the exit status. */
export async function startInspector(options: ModelOptions, io: CliIo): Promise<WorkerInspector | number> {
  const logger = createLogger({ level: 'warn', destination: io.stderr, journal: false });
  const inspector = new WorkerInspector({
    bundleDir: options.bundleDir,
    inference: options.inference,
    logger,
    hangAfterMs: OFFLINE_HANG_AFTER_MS,
  });
  try {
    await inspector.start(io.signal);
    return inspector;
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write('lineside: interrupted while loading the model\n');
      return EXIT.FAILURE;
    }
    const code = errorCode(err);
    io.stderr.write(`lineside: ${code}: ${errorMessage(err)}\n`);
    return exitStatusForStartError(code);
  }
}

export function exitStatusForStartError(code: ErrorCode): number {
  if (code.startsWith('LS_MODEL_')) return EXIT.CONFIG;
  if (code === 'LS_EP_UNAVAILABLE') return EXIT.UNAVAILABLE;
  return EXIT.SOFTWARE;
}

export async function runClassify(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(
    argv,
    { ...MODEL_FLAGS, json: { type: 'boolean' }, cam: { type: 'string' }, help: { type: 'boolean' } },
    { positionals: true },
  );
  if (line.problem !== undefined) return usageError(io, line.problem, CLASSIFY_HELP);
  const { values: flags, positionals: positional } = line;
  if (flags.help === true) {
    io.stdout.write(`${CLASSIFY_HELP}\n`);
    return EXIT.OK;
  }
  if (positional.length === 0) return usageError(io, 'PATH is required (one or more files or folders)', CLASSIFY_HELP);
  const options = modelOptions(flags);
  if (typeof options === 'string') {
    io.stderr.write(`${options}\n`);
    return EXIT.USAGE;
  }
  const json = flags.json === true;
  const { files, failures } = await listFiles(positional);
  for (const failure of failures) writeFailure(io, failure, json);
  if (files.length === 0) {
    io.stderr.write('lineside classify: no files to classify\n');
    return EXIT.PARTIAL;
  }

  if (flags.cam !== undefined) {
    const problem = await mkdir(flags.cam, { recursive: true }).then(
      () => undefined,
      (err: unknown) => `--cam ${flags.cam}: ${errorMessage(err)}`,
    );
    if (problem !== undefined) return usageError(io, problem, CLASSIFY_HELP);
  }
  const inspector = await startInspector(options, io);
  if (typeof inspector === 'number') return inspector;
  const counts = { ok: 0, defective: 0, errors: failures.length };
  const output = watchOutput(io);
  try {
    const judge = flags.cam === undefined ? undefined : camJudge(inspector.explain.bind(inspector), flags.cam);
    await judgeFiles(inspector, files, {
      ...(judge === undefined ? {} : { judge }),
      concurrency: CONCURRENCY,
      maxFileBytes: MAX_FILE_BYTES,
      signal: output.signal,
      onJudgement: (judgement) => {
        if ('failure' in judgement) counts.errors += 1;
        else counts[judgement.inspection.verdict] += 1;
        if (!output.closed()) writeJudgement(io, judgement, json);
      },
    });
  } finally {
    output.dispose();
    await inspector.stop();
  }
  const judged = counts.ok + counts.defective;
  io.stderr.write(
    `${judged} judged: ${counts.ok} ok, ${counts.defective} defective; ${counts.errors} could not be judged\n`,
  );
  if (output.signal.aborted) return EXIT.FAILURE;
  return counts.errors > 0 ? EXIT.PARTIAL : EXIT.OK;
}

function writeJudgement(io: CliIo, judgement: Judgement, json: boolean): void {
  if ('failure' in judgement) {
    writeFailure(io, judgement.failure, json);
    return;
  }
  const { inspection, file } = judgement;
  if (json) {
    io.stdout.write(
      `${JSON.stringify({
        file,
        verdict: inspection.verdict,
        defect_score: inspection.defectScore,
        threshold: inspection.threshold,
        preprocess_ms: round(inspection.preprocessMs, 3),
        inference_ms: round(inspection.inferenceMs, 3),
      })}\n`,
    );
    return;
  }
  const ms = (inspection.preprocessMs + inspection.inferenceMs).toFixed(1);
  io.stdout.write(
    `${inspection.verdict.padEnd(9)}  ${inspection.defectScore.toFixed(4)}  ${ms.padStart(6)} ms  ${file}\n`,
  );
}

function writeFailure(io: CliIo, failure: FileFailure, json: boolean): void {
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ file: failure.file, error: { code: failure.code, message: failure.message } })}\n`,
    );
  } else {
    io.stdout.write(`${'error'.padEnd(9)}  ${failure.code}  ${failure.file}: ${failure.message}\n`);
  }
}

/**
 * Stop taking new files when the user interrupts or stdout goes away (`lineside classify DIR | head`):
 * a closed pipe is a reason to finish quietly, not to crash with the worker still running.
 */
export function watchOutput(io: CliIo): { signal: AbortSignal; closed: () => boolean; dispose: () => void } {
  const closed = new AbortController();
  const onError = (err: unknown): void => closed.abort(err);
  io.stdout.on('error', onError);
  return {
    signal: AbortSignal.any([io.signal, closed.signal]),
    closed: () => closed.signal.aborted,
    // Once the pipe has failed, later writes fail too; the listener stays so they cannot crash the process.
    dispose: () => {
      if (!closed.signal.aborted) io.stdout.off('error', onError);
    },
  };
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
