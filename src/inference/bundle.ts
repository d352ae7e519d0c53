import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { LinesideError, errorMessage } from '../errors.js';
import { readRegularFile } from '../regular-file.js';
import { preprocessSpecSchema } from './preprocess.js';

/** The model bundle's metadata file; the daemon learns everything about the model from it. */
export const BUNDLE_METADATA_FILE = 'model.json';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const count = z.number().int().min(0);
const fraction = z.number().min(0).max(1);

const camSchema = z
  .strictObject({
    output: z.string().min(1).describe('Graph output holding the class-activation map.'),
    shape: z.tuple([z.literal(1), z.literal(1), z.number().int().min(1), z.number().int().min(1)]),
    meaning: z.string().min(1),
  })
  .describe(
    "Class-activation map: sum over the last conv block's channels of the classifier weight times the feature map, " +
      'negative values cut to 0, upsampled to the input size, computed in the graph. The daemon scales it to 0..1.',
  );

const probesSchema = z
  .strictObject({
    tolerance: z
      .number()
      .gt(0)
      .lt(1)
      .describe('Largest absolute difference between a probe score and its expected score the self-test accepts.'),
    recorded_with: z.string().min(1).describe('Runtime and provider the expected scores come from.'),
    inputs: z
      .array(
        z.strictObject({
          file: z
            .string()
            .regex(/^probes\/[A-Za-z0-9._-]+\.u8$/, 'must be probes/NAME.u8, inside the bundle directory'),
          sha256: sha256Hex,
          expected_score: fraction,
        }),
      )
      .min(1),
  })
  .describe('Pinned synthetic inputs (raw uint8 pixels, height x width) with their expected scores: the self-test.');

const confusionMatrixSchema = z
  .strictObject({
    true_defective: count.describe('Defective parts judged defective.'),
    escapes: count.describe('Defective parts judged ok (false negatives): the costly error.'),
    false_rejects: count.describe('Ok parts judged defective (false positives).'),
    true_ok: count.describe('Ok parts judged ok.'),
  })
  .describe('Counts at the shipped threshold; the positive class is "defective".');

export const bundleMetadataSchema = z
  .strictObject({
    schema_version: z.literal(1),
    name: z.string().min(1),
    version: z.string().min(1),
    created: z.iso.datetime({ offset: true }),
    description: z.string(),
    onnx: z.strictObject({
      file: z
        .string()
        .regex(/^[A-Za-z0-9._-]+\.onnx$/, 'must be a plain file name ending in .onnx, inside the bundle directory'),
      sha256: sha256Hex,
      bytes: z.number().int().min(1),
      opset: z.number().int().min(7),
    }),
    input: z.strictObject({
      name: z.string().min(1),
      layout: z.literal('NCHW'),
      shape: z.tuple([z.literal(1), z.literal(1), z.number().int().min(1), z.number().int().min(1)]),
      dtype: z.literal('float32'),
      value_range: z.tuple([z.literal(0), z.literal(255)]).describe('Values equal the uint8 preprocessed pixels.'),
    }),
    preprocess: preprocessSpecSchema,
    normalisation: z
      .strictObject({
        in_graph: z.literal(true),
        formula: z.string().min(1),
        mean: z.number(),
        std: z.number().positive(),
      })
      .describe('Applied inside the ONNX graph; recorded here for the model card, never re-applied by the daemon.'),
    output: z.strictObject({
      name: z.string().min(1),
      shape: z.tuple([z.literal(1), z.literal(1)]),
      dtype: z.literal('float32'),
      meaning: z.string().min(1),
    }),
    cam: camSchema.optional(),
    probes: probesSchema.optional(),
    classes: z.strictObject({
      positive: z.literal('defective'),
      negative: z.literal('ok'),
      source_folders: z.strictObject({ defective: z.string(), ok: z.string() }),
    }),
    decision: z.strictObject({
      threshold: z.number().gt(0).lt(1),
      rule: z.literal('defective if score >= threshold'),
      chosen_by: z.string().min(1),
    }),
    validation: z.strictObject({
      split_seed: z.number().int(),
      fraction: fraction,
      stratified: z.boolean(),
      images: count,
      files: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, 'must be a plain file name inside the bundle directory')
        .describe('TSV (label, path relative to the dataset) of the validation images, for re-evaluation.'),
      accuracy: fraction,
      confusion_matrix: confusionMatrixSchema,
      roc_auc: fraction,
      /** Smallest defective score and largest ok score: how much room the threshold has. */
      min_defective_score: fraction,
      max_ok_score: fraction,
    }),
    architecture: z.strictObject({
      summary: z.string().min(1),
      parameters: count,
      macs: count.describe('Multiply-accumulates for one image.'),
      flops: count.describe('2 x MACs.'),
    }),
    training: z.strictObject({
      data: z.string(),
      images: count,
      framework: z.string(),
      recipe: z.string(),
      runs: z
        .array(
          z.strictObject({
            architecture: z.string().min(1),
            epochs_run: count,
            best_epoch: count,
            wall_time_s: z.number().min(0),
          }),
        )
        .min(1)
        .describe('One entry per trained net (several when the model is an ensemble).'),
      wall_time_s: z.number().min(0).describe('Total training wall time of all runs, seconds.'),
      command: z.string(),
    }),
  })
  .superRefine((meta, ctx) => {
    const [, , height, width] = meta.input.shape;
    if (height !== meta.preprocess.height || width !== meta.preprocess.width) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'shape'],
        message: `must be [1, 1, ${meta.preprocess.height}, ${meta.preprocess.width}] to match preprocess (got [1, 1, ${height}, ${width}])`,
      });
    }
    if (meta.cam !== undefined && (meta.cam.shape[2] !== height || meta.cam.shape[3] !== width)) {
      ctx.addIssue({
        code: 'custom',
        path: ['cam', 'shape'],
        message: `must be [1, 1, ${height}, ${width}] like the input (got [1, 1, ${meta.cam.shape[2]}, ${meta.cam.shape[3]}])`,
      });
    }
    const cm = meta.validation.confusion_matrix;
    const sum = cm.true_defective + cm.escapes + cm.false_rejects + cm.true_ok;
    if (sum !== meta.validation.images) {
      ctx.addIssue({
        code: 'custom',
        path: ['validation', 'confusion_matrix'],
        message: `counts sum to ${sum}, validation.images is ${meta.validation.images}`,
      });
    }
  });

export type BundleMetadata = z.infer<typeof bundleMetadataSchema>;

export interface ModelBundle {
  /** Absolute bundle directory. */
  dir: string;
  metadata: BundleMetadata;
  /** Absolute path of the .onnx file. */
  onnxPath: string;
  /** The verified model bytes; create the session from these, not from the path, so what runs is what was hashed. */
  onnxBytes: Uint8Array;
  /** The pinned probes, verified against their sha256 (empty when the bundle has none). */
  probes: Probe[];
}

export interface Probe {
  /** Relative to the bundle, e.g. probes/grey-128.u8. */
  file: string;
  /** Raw pixels, height x width, row-major. */
  pixels: Uint8Array;
  expectedScore: number;
}

/**
 * Read and validate `dir/model.json`, then read the .onnx file and verify its sha256 before anything loads it.
 * Throws LinesideError LS_MODEL_MISSING (unreadable metadata or model), LS_MODEL_INVALID (malformed
 * metadata, wrong size) or LS_MODEL_CHECKSUM (sha256 mismatch).
 */
export async function loadBundle(dir: string): Promise<ModelBundle> {
  const bundleDir = path.resolve(dir);
  const metadataPath = path.join(bundleDir, BUNDLE_METADATA_FILE);
  const metadataText = await readOrMissing(metadataPath, 'model bundle metadata');

  let raw: unknown;
  try {
    raw = JSON.parse(metadataText);
  } catch (err) {
    throw new LinesideError('LS_MODEL_INVALID', `${metadataPath}: not valid JSON: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const parsed = bundleMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new LinesideError('LS_MODEL_INVALID', `${metadataPath}: ${problems.join('; ')}`, { cause: parsed.error });
  }
  const metadata = parsed.data;

  const onnxPath = path.join(bundleDir, metadata.onnx.file);
  const onnxBuffer = await readOrMissing(onnxPath, 'model file', 'bytes');
  const actual = createHash('sha256').update(onnxBuffer).digest('hex');
  if (actual !== metadata.onnx.sha256) {
    throw new LinesideError(
      'LS_MODEL_CHECKSUM',
      `${onnxPath}: sha256 is ${actual}, ${BUNDLE_METADATA_FILE} says ${metadata.onnx.sha256}; refusing to load it`,
    );
  }
  if (onnxBuffer.length !== metadata.onnx.bytes) {
    throw new LinesideError(
      'LS_MODEL_INVALID',
      `${onnxPath}: ${onnxBuffer.length} bytes, ${BUNDLE_METADATA_FILE} says ${metadata.onnx.bytes}`,
    );
  }
  return {
    dir: bundleDir,
    metadata,
    onnxPath,
    onnxBytes: new Uint8Array(onnxBuffer.buffer, onnxBuffer.byteOffset, onnxBuffer.length),
    probes: await loadProbes(bundleDir, metadata),
  };
}

/** Each probe file read and checked against its sha256 and the input size; LS_MODEL_MISSING or LS_MODEL_INVALID. */
async function loadProbes(bundleDir: string, metadata: BundleMetadata): Promise<Probe[]> {
  const probes: Probe[] = [];
  const size = metadata.preprocess.width * metadata.preprocess.height;
  for (const input of metadata.probes?.inputs ?? []) {
    const file = path.join(bundleDir, input.file);
    const bytes = await readOrMissing(file, 'probe', 'bytes');
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== input.sha256 || bytes.length !== size) {
      throw new LinesideError(
        'LS_MODEL_INVALID',
        `${file}: sha256 ${actual} (${bytes.length} bytes); ${BUNDLE_METADATA_FILE} says ${input.sha256} (${size} bytes)`,
      );
    }
    probes.push({ file: input.file, pixels: new Uint8Array(bytes), expectedScore: input.expected_score });
  }
  return probes;
}

async function readOrMissing(file: string, what: string): Promise<string>;
async function readOrMissing(file: string, what: string, as: 'bytes'): Promise<Buffer>;
async function readOrMissing(file: string, what: string, as?: 'bytes'): Promise<string | Buffer> {
  try {
    const bytes = await readRegularFile(file);
    return as === 'bytes' ? bytes : bytes.toString('utf8');
  } catch (err) {
    throw new LinesideError('LS_MODEL_MISSING', `${what} ${file} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
}
