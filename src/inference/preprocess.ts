import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { z } from 'zod';
import { LinesideError, errorMessage } from '../errors.js';

/**
 * How an encoded image becomes the model's input pixels. It lives in the bundle metadata (model.json
 * `preprocess`), and the training tensors are made by this same module (`lineside export-tensors`), so
 * the daemon and training can never disagree about decoding, colour handling or resizing.
 *
 * Normalisation is not here on purpose: it is inside the ONNX graph, which takes float32 values 0..255
 * equal to these uint8 pixels. Train/serve parity is therefore byte-exact.
 */
export const preprocessSpecSchema = z.strictObject({
  width: z.number().int().min(8).max(4096).describe('Model input width in pixels.'),
  height: z.number().int().min(8).max(4096).describe('Model input height in pixels.'),
  colour: z
    .literal('grey-bw')
    .describe(
      "1 channel: alpha dropped, then libvips colourspace B_W (sharp greyscale() + toColourspace('b-w')), " +
        'applied to the decoded sRGB values as stored (no gamma linearisation). Grey-as-RGB input keeps its grey values.',
    ),
  resize_kernel: z
    .enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3', 'mks2013', 'mks2021'])
    .describe('sharp resize kernel, always explicit (sharp would default to lanczos3).'),
  fit: z
    .literal('fill')
    .describe('Aspect ratio is not kept: the whole image is squeezed to width x height, nothing cropped.'),
  fast_shrink_on_load: z
    .literal(false)
    .describe('JPEG DCT shrink-on-load is off so the result does not depend on the encoded format.'),
  auto_orient: z.literal(false).describe('EXIF orientation is ignored: pixels are used as stored.'),
});

export type PreprocessSpec = z.infer<typeof preprocessSpecSchema>;

export interface PreprocessOptions {
  /** Images with more pixels (width x height, from the header) are refused before decoding. */
  maxInputPixels: number;
}

/** Row-major, 1 channel, `width * height` bytes. */
export interface PreprocessedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** Formats a camera plausibly delivers; anything else (SVG, GIF, ...) is refused rather than decoded. */
const ACCEPTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'tiff']);

/** Reads only the header: an unsupported or oversized image is refused before any pixel is decoded. */
async function checkHeader(image: Uint8Array, opts: PreprocessOptions): Promise<void> {
  let header: Metadata;
  try {
    header = await sharp(image, { failOn: 'warning', limitInputPixels: false }).metadata();
  } catch (err) {
    const message = `not a decodable image (${image.byteLength} bytes): ${errorMessage(err)}`;
    throw new LinesideError('LS_IMAGE_DECODE', message, { cause: err });
  }
  if (!ACCEPTED_FORMATS.has(header.format)) {
    const accepted = [...ACCEPTED_FORMATS].join(', ');
    throw new LinesideError('LS_IMAGE_DECODE', `unsupported image format '${header.format}' (accepted: ${accepted})`);
  }
  const inputPixels = header.width * header.height;
  if (inputPixels > opts.maxInputPixels) {
    throw new LinesideError(
      'LS_IMAGE_TOO_LARGE',
      `image is ${header.width}x${header.height} = ${inputPixels} pixels, over the limit of ${opts.maxInputPixels}`,
    );
  }
}

/**
 * Decode one encoded image and return the model's input pixels.
 * Rejects with LinesideError LS_IMAGE_DECODE (empty, truncated, corrupt, not an image, unsupported
 * format) or LS_IMAGE_TOO_LARGE (header declares more than `maxInputPixels`; nothing is decoded).
 */
export async function preprocess(
  image: Uint8Array,
  spec: PreprocessSpec,
  opts: PreprocessOptions,
): Promise<PreprocessedImage> {
  if (image.byteLength === 0) {
    throw new LinesideError('LS_IMAGE_DECODE', 'image is empty (0 bytes)');
  }
  // 'truncated' is too lenient: libjpeg reports a cut-off JPEG as a warning ("premature end of data").
  const input = { failOn: 'warning', limitInputPixels: opts.maxInputPixels } as const;
  await checkHeader(image, opts);

  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(image, { ...input, autoOrient: spec.auto_orient })
      .removeAlpha()
      .greyscale()
      .toColourspace('b-w')
      .resize(spec.width, spec.height, {
        kernel: spec.resize_kernel,
        fit: spec.fit,
        fastShrinkOnLoad: spec.fast_shrink_on_load,
      })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    const message = `image could not be decoded (${image.byteLength} bytes): ${errorMessage(err)}`;
    throw new LinesideError('LS_IMAGE_DECODE', message, { cause: err });
  }
  if (
    info.channels !== 1 ||
    info.width !== spec.width ||
    info.height !== spec.height ||
    data.length !== spec.width * spec.height
  ) {
    throw new LinesideError(
      'LS_IMAGE_DECODE',
      `decoder returned ${info.width}x${info.height}x${info.channels} (${data.length} bytes), expected ${spec.width}x${spec.height}x1`,
    );
  }
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * The model input for one image: float32 NCHW [1, 1, height, width], each value equal to its uint8
 * pixel (0..255). Writes into `out` when given (length width*height) so a worker can reuse one buffer.
 */
export function toInputTensorData(pixels: Uint8Array, out?: Float32Array): Float32Array {
  const data = out ?? new Float32Array(pixels.length);
  if (data.length !== pixels.length) {
    throw new LinesideError(
      'LS_INTERNAL',
      `tensor buffer holds ${data.length} values, image has ${pixels.length} pixels`,
    );
  }
  data.set(pixels);
  return data;
}
