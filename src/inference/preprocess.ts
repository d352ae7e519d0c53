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
    .enum(['grey-bw', 'grey-bw-late'])
    .describe(
      "'grey-bw': 1 channel: alpha dropped, then libvips colourspace B_W (sharp greyscale() + toColourspace('b-w')), " +
        'applied to the decoded sRGB values as stored (no gamma linearisation), then the resize. Grey-as-RGB input keeps its grey values. ' +
        "'grey-bw-late': the resize first, on the decoded channels, then B_W on the small image (sharp toColourspace('b-w') alone): " +
        'the same pixels as grey-bw for grey and grey-as-RGB images (the casting dataset), different ones for colour images; ' +
        'about 0.8 ms faster per 300x300 JPEG on the development machine (BENCHMARKS.md).',
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

/** The format from the first bytes, for the formats accepted; undefined for anything else (then the header decides). */
export function sniffFormat(image: Uint8Array): 'jpeg' | 'png' | 'webp' | 'tiff' | undefined {
  const b = (i: number): number | undefined => image[i];
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'png';
  const ascii = (from: number, to: number): string => String.fromCharCode(...image.subarray(from, to));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'tiff';
  return undefined;
}

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
  // A separate metadata() pass per image cost about 0.3 ms: an accepted format is recognised from its first bytes, and
  // the decode's own limitInputPixels refuses an oversized image from its header before decoding any pixel.
  // Anything else goes through checkHeader first, which names the format it refuses.
  if (sniffFormat(image) === undefined) await checkHeader(image, opts);
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await pixelsOf(image, spec, opts));
  } catch (err) {
    // Over the pixel limit: the header check says so with the image's size (it throws LS_IMAGE_TOO_LARGE).
    if (/pixel limit/i.test(errorMessage(err))) await checkHeader(image, opts);
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

/** sharp's pipeline for the spec: decode, alpha dropped, grey (before or after the resize), resize, raw uint8. */
function pixelsOf(
  image: Uint8Array,
  spec: PreprocessSpec,
  opts: PreprocessOptions,
): Promise<{ data: Buffer; info: OutputInfo }> {
  // 'truncated' is too lenient: libjpeg reports a cut-off JPEG as a warning ("premature end of data").
  const decoded = sharp(image, {
    failOn: 'warning',
    limitInputPixels: opts.maxInputPixels,
    autoOrient: spec.auto_orient,
  }).removeAlpha();
  const grey = spec.colour === 'grey-bw' ? decoded.greyscale().toColourspace('b-w') : decoded.toColourspace('b-w');
  return grey
    .resize(spec.width, spec.height, {
      kernel: spec.resize_kernel,
      fit: spec.fit,
      fastShrinkOnLoad: spec.fast_shrink_on_load,
    })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
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
