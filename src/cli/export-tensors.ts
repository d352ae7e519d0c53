import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { inferenceSection } from '../config/sections/inference.js';
import { LinesideError, errorCode, errorMessage } from '../errors.js';
import { preprocess, preprocessSpecSchema, type PreprocessSpec } from '../inference/preprocess.js';
import { parseCommandLine, usageError } from './io.js';
import { readRegularFile } from '../regular-file.js';

/**
 * `lineside export-tensors`: run the daemon's own preprocessing over a labelled image folder and write
 * the result for training (training/lineside_tensors.py reads it). File layout, all integers little-endian:
 *
 *   8 bytes   magic "LSTENS01"
 *   4 bytes   uint32 length L of the JSON header
 *   L bytes   JSON header (TensorFileHeader, UTF-8)
 *   N bytes   labels, uint8 per image (1 = defective, 0 = ok)
 *   N*H*W     pixels, uint8, row-major, one channel, images in the order of the labels
 *
 * Beside it, `<out>.files.tsv` lists index, label and path (relative to --data) of every image.
 */
export const TENSOR_FILE_MAGIC = 'LSTENS01';

export const tensorFileHeaderSchema = z.strictObject({
  format: z.literal('lineside-tensors/1'),
  count: z.number().int().min(0),
  height: z.number().int().min(1),
  width: z.number().int().min(1),
  channels: z.literal(1),
  dtype: z.literal('uint8'),
  labels: z.strictObject({ '0': z.literal('ok'), '1': z.literal('defective') }),
  preprocess: preprocessSpecSchema,
  max_input_pixels: z.number().int().min(1),
  labels_offset: z.number().int().min(0),
  pixels_offset: z.number().int().min(0),
});

export type TensorFileHeader = z.infer<typeof tensorFileHeaderSchema>;

export interface TensorFile {
  header: TensorFileHeader;
  labels: Uint8Array;
  /** count * height * width bytes. */
  pixels: Uint8Array;
}

const USAGE = `usage: lineside export-tensors --data DIR --out FILE --spec FILE [options]

Preprocess every image of DIR/<defective-dir> (label 1) and DIR/<ok-dir> (label 0) exactly as the
daemon does and write them to FILE (+ FILE.files.tsv) for training.

  --data DIR               dataset folder
  --out FILE               output tensor file
  --spec FILE              JSON preprocessing spec, or a bundle's model.json (its "preprocess" is used)
  --defective-dir NAME     default def_front
  --ok-dir NAME            default ok_front
  --max-input-pixels N     default: the inference.max_input_pixels config default
  --concurrency N          images decoded at once, default 2
`;

const EX_DATAERR = 65;
const EX_NOINPUT = 66;
const EX_CANTCREAT = 73;

const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

interface LabelledImage {
  relPath: string;
  label: 0 | 1;
}

export async function runExportTensors(argv: string[], io: Io): Promise<number> {
  const args = parseExportArgs(argv, io);
  if (typeof args === 'number') return args;
  const spec = await loadSpec(args.specFile, io);
  if (typeof spec === 'number') return spec;
  const images = await listLabelledImages(args, io);
  if (typeof images === 'number') return images;

  const started = performance.now();
  const { labels, pixels, failures } = await preprocessImages(images, {
    dataDir: args.dataDir,
    spec,
    maxInputPixels: args.maxInputPixels,
    concurrency: args.concurrency,
  });
  if (failures.length > 0) {
    // Training on a silently shortened or shifted set would be worse than no export at all.
    io.stderr.write(`export-tensors: ${failures.length} image(s) failed, nothing written:\n${failures.join('\n')}\n`);
    return EX_DATAERR;
  }

  try {
    await writeTensorFile(args.out, { spec, maxInputPixels: args.maxInputPixels, labels, pixels }, images);
  } catch (err) {
    io.stderr.write(`export-tensors: cannot write ${args.out}: ${errorMessage(err)}\n`);
    return EX_CANTCREAT;
  }
  const defective = labels.reduce((sum, label) => sum + label, 0);
  const seconds = (performance.now() - started) / 1000;
  io.stdout.write(
    `export-tensors: ${images.length} images (${defective} defective, ${images.length - defective} ok), ` +
      `${spec.width}x${spec.height}, ${seconds.toFixed(1)} s -> ${args.out}\n`,
  );
  return 0;
}

interface ExportArgs {
  dataDir: string;
  out: string;
  specFile: string;
  defectiveDir: string;
  okDir: string;
  maxInputPixels: number;
  /** Images decoded at once. */
  concurrency: number;
}

/** The command line, or the exit status when it asks for help or is wrong (the message already written). */
function parseExportArgs(argv: string[], io: Io): ExportArgs | number {
  const line = parseCommandLine(argv, {
    data: { type: 'string' },
    out: { type: 'string' },
    spec: { type: 'string' },
    'defective-dir': { type: 'string', default: 'def_front' },
    'ok-dir': { type: 'string', default: 'ok_front' },
    'max-input-pixels': { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h' },
  });
  if (line.problem !== undefined) return usageError(io, line.problem, USAGE);
  const args = line.values;
  if (args.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (args.data === undefined || args.out === undefined || args.spec === undefined) {
    return usageError(io, '--data, --out and --spec are required', USAGE);
  }
  const maxInputPixels = positiveInt(args['max-input-pixels'], inferenceSection.parse({}).max_input_pixels);
  const concurrency = positiveInt(args.concurrency, 2);
  if (maxInputPixels === undefined || concurrency === undefined) {
    return usageError(io, '--max-input-pixels and --concurrency must be positive integers', USAGE);
  }
  return {
    dataDir: args.data,
    out: args.out,
    specFile: args.spec,
    defectiveDir: args['defective-dir'],
    okDir: args['ok-dir'],
    maxInputPixels,
    concurrency,
  };
}

/** The preprocessing spec, or the exit status when it cannot be read or is not valid (the message already written). */
async function loadSpec(specFile: string, io: Io): Promise<PreprocessSpec | number> {
  try {
    return await readSpec(specFile);
  } catch (err) {
    io.stderr.write(`export-tensors: ${errorMessage(err)}\n`);
    return errorCode(err) === 'LS_FILE_UNREADABLE' ? EX_NOINPUT : EX_DATAERR;
  }
}

/** Defective images (label 1) then ok ones (label 0), or EX_NOINPUT when a folder cannot be read (message written). */
async function listLabelledImages(args: ExportArgs, io: Io): Promise<LabelledImage[] | number> {
  try {
    return [
      ...(await listImages(args.dataDir, args.defectiveDir, 1)),
      ...(await listImages(args.dataDir, args.okDir, 0)),
    ];
  } catch (err) {
    io.stderr.write(`export-tensors: ${errorMessage(err)}\n`);
    return EX_NOINPUT;
  }
}

interface PreprocessJob {
  dataDir: string;
  spec: PreprocessSpec;
  maxInputPixels: number;
  concurrency: number;
}

/** Every image through the daemon's preprocessing; what failed is listed instead of stopping the others. */
async function preprocessImages(
  images: readonly LabelledImage[],
  job: PreprocessJob,
): Promise<{ labels: Uint8Array; pixels: Uint8Array; failures: string[] }> {
  const { dataDir, spec, maxInputPixels } = job;
  const pixelsPerImage = spec.width * spec.height;
  const labels = new Uint8Array(images.length);
  const pixels = new Uint8Array(images.length * pixelsPerImage);
  const failures: string[] = [];
  // The workers share one cursor, so each image lands at its listing index whatever order decoding finishes in.
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < images.length; i = next++) {
      const image = images[i];
      if (image === undefined) continue;
      const file = path.join(dataDir, image.relPath);
      try {
        const result = await preprocess(await readRegularFile(file), spec, { maxInputPixels });
        pixels.set(result.pixels, i * pixelsPerImage);
        labels[i] = image.label;
      } catch (err) {
        failures.push(`${file}: ${errorCode(err)} ${errorMessage(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, Math.max(images.length, 1)) }, worker));
  return { labels, pixels, failures };
}

/** Read a file written by `export-tensors`; throws LinesideError LS_FILE_UNREADABLE when it is not one. */
export async function readTensorFile(file: string): Promise<TensorFile> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file);
  } catch (err) {
    throw new LinesideError('LS_FILE_UNREADABLE', `${file}: ${errorMessage(err)}`, { cause: err });
  }
  const bad = (why: string): LinesideError =>
    new LinesideError('LS_FILE_UNREADABLE', `${file}: not a tensor file: ${why}`);
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== TENSOR_FILE_MAGIC) throw bad('bad magic');
  const headerLength = bytes.readUInt32LE(8);
  let header: TensorFileHeader;
  try {
    header = tensorFileHeaderSchema.parse(JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)));
  } catch (err) {
    throw new LinesideError('LS_FILE_UNREADABLE', `${file}: not a tensor file: bad header: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const pixelBytes = header.count * header.height * header.width;
  if (header.labels_offset !== 12 + headerLength || header.pixels_offset !== header.labels_offset + header.count) {
    throw bad('offsets do not follow the header');
  }
  if (bytes.length !== header.pixels_offset + pixelBytes)
    throw bad(`${bytes.length} bytes, header implies ${header.pixels_offset + pixelBytes}`);
  return {
    header,
    labels: new Uint8Array(bytes.buffer, bytes.byteOffset + header.labels_offset, header.count),
    pixels: new Uint8Array(bytes.buffer, bytes.byteOffset + header.pixels_offset, pixelBytes),
  };
}

async function writeTensorFile(
  out: string,
  data: { spec: PreprocessSpec; maxInputPixels: number; labels: Uint8Array; pixels: Uint8Array },
  images: readonly LabelledImage[],
): Promise<void> {
  // Offsets depend on the header length, which depends on the offsets' digits: settle it in two passes.
  const draft: TensorFileHeader = {
    format: 'lineside-tensors/1',
    count: data.labels.length,
    height: data.spec.height,
    width: data.spec.width,
    channels: 1,
    dtype: 'uint8',
    labels: { '0': 'ok', '1': 'defective' },
    preprocess: data.spec,
    max_input_pixels: data.maxInputPixels,
    labels_offset: 0,
    pixels_offset: 0,
  };
  let headerBytes = Buffer.from(JSON.stringify(draft), 'utf8');
  for (let pass = 0; pass < 3; pass++) {
    draft.labels_offset = 12 + headerBytes.length;
    draft.pixels_offset = draft.labels_offset + data.labels.length;
    headerBytes = Buffer.from(JSON.stringify(draft), 'utf8');
  }
  if (draft.labels_offset !== 12 + headerBytes.length) throw new Error('tensor header length did not settle');

  const prefix = Buffer.alloc(12);
  prefix.write(TENSOR_FILE_MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, 8);

  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writev([prefix, headerBytes, data.labels, data.pixels]);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const list = images.map((image, index) => `${index}\t${image.label}\t${image.relPath}`).join('\n');
  try {
    await writeFile(`${out}.files.tsv`, `index\tlabel\tpath\n${list}\n`);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function readSpec(file: string): Promise<PreprocessSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LinesideError('LS_FILE_UNREADABLE', `--spec ${file}: ${errorMessage(err)}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LinesideError('LS_CONFIG_INVALID', `--spec ${file}: not valid JSON: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const candidate = typeof raw === 'object' && raw !== null && 'preprocess' in raw ? raw.preprocess : raw;
  const parsed = preprocessSpecSchema.safeParse(candidate);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new LinesideError('LS_CONFIG_INVALID', `--spec ${file}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

async function listImages(dataDir: string, folder: string, label: 0 | 1): Promise<LabelledImage[]> {
  let names: string[];
  try {
    names = await readdir(path.join(dataDir, folder));
  } catch (err) {
    throw new LinesideError('LS_FILE_UNREADABLE', `${path.join(dataDir, folder)}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return names
    .filter((name) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase()))
    .sort()
    .map((name) => ({ relPath: path.join(folder, name), label }));
}

function positiveInt(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
