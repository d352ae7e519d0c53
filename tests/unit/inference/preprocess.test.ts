import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { LinesideError } from '../../../src/errors.js';
import { loadBundle } from '../../../src/inference/bundle.js';
import {
  preprocess,
  preprocessSpecSchema,
  sniffFormat,
  toInputTensorData,
  type PreprocessSpec,
} from '../../../src/inference/preprocess.js';
import { rejection } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dataset = path.resolve(root, '../shared/casting/train');
const realJpeg = readFileSync(path.join(dataset, 'def_front/cast_def_0_0.jpeg'));
const limits = { maxInputPixels: 40_000_000 };

const spec128: PreprocessSpec = {
  width: 128,
  height: 128,
  colour: 'grey-bw',
  resize_kernel: 'lanczos3',
  fit: 'fill',
  fast_shrink_on_load: false,
  auto_orient: false,
};

/** A valid PNG signature + IHDR (correct CRC) that declares width x height, followed by a token IDAT. */
function pngHeaderDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(17);
  ihdr.write('IHDR', 0, 'latin1');
  ihdr.writeUInt32BE(width, 4);
  ihdr.writeUInt32BE(height, 8);
  ihdr.writeUInt8(8, 12); // bit depth
  ihdr.writeUInt8(0, 13); // greyscale
  const chunk = (body: Buffer): Buffer => {
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(body.length - 4, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const idat = Buffer.concat([Buffer.from('IDAT', 'latin1'), Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00])]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk(ihdr), chunk(idat)]);
}

describe('preprocess', () => {
  it('turns a real casting photo into width x height single-channel pixels', async () => {
    const out = await preprocess(realJpeg, spec128, limits);
    expect(out.width).toBe(128);
    expect(out.height).toBe(128);
    expect(out.pixels).toBeInstanceOf(Uint8Array);
    expect(out.pixels.length).toBe(128 * 128);
    // A photo, not a blank: the casting and its background give a wide spread of grey levels.
    const values = new Set(out.pixels);
    expect(values.size).toBeGreaterThan(100);
  });

  it('is deterministic: the same bytes give the same pixels', async () => {
    const a = await preprocess(realJpeg, spec128, limits);
    const b = await preprocess(Buffer.from(realJpeg), spec128, limits);
    expect(Buffer.from(b.pixels).equals(Buffer.from(a.pixels))).toBe(true);
  });

  it('keeps grey values exactly when the image is grey stored as RGB (the dataset and camera case)', async () => {
    const width = 64;
    const height = 48;
    const rgb = Buffer.alloc(width * height * 3);
    const expected = new Uint8Array(width * height);
    for (let i = 0; i < width * height; i++) {
      const v = (i * 37 + (i >> 5)) % 256;
      expected[i] = v;
      rgb.fill(v, 3 * i, 3 * i + 3);
    }
    const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const out = await preprocess(png, { ...spec128, width, height, resize_kernel: 'nearest' }, limits);
    expect(Array.from(out.pixels)).toEqual(Array.from(expected));
  });

  it('squeezes a non-square image to the full frame (fit fill) instead of cropping', async () => {
    // Left half black, right half white, 200x100: a crop to the centre would lose the proportions, fill keeps them.
    const width = 200;
    const height = 100;
    const rgb = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) rgb.fill(255, 3 * (y * width + width / 2), 3 * (y * width + width));
    const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const out = await preprocess(png, { ...spec128, width: 20, height: 20, resize_kernel: 'nearest' }, limits);
    for (let y = 0; y < 20; y++) {
      expect(out.pixels[y * 20 + 0]).toBe(0);
      expect(out.pixels[y * 20 + 9]).toBe(0);
      expect(out.pixels[y * 20 + 10]).toBe(255);
      expect(out.pixels[y * 20 + 19]).toBe(255);
    }
  });

  it('drops an (opaque) alpha channel rather than returning two channels', async () => {
    const png = await sharp({
      create: { width: 32, height: 32, channels: 4, background: { r: 90, g: 90, b: 90, alpha: 1 } },
    })
      .png()
      .toBuffer();
    const out = await preprocess(png, { ...spec128, width: 16, height: 16 }, limits);
    expect(out.pixels.length).toBe(16 * 16);
    expect(new Set(out.pixels)).toEqual(new Set([90]));
  });

  it('rejects an empty buffer with LS_IMAGE_DECODE', async () => {
    const err = await rejection(preprocess(Buffer.alloc(0), spec128, limits));
    expect(err.code).toBe('LS_IMAGE_DECODE');
  });

  it('rejects a truncated JPEG with LS_IMAGE_DECODE instead of returning half a grey image', async () => {
    const err = await rejection(preprocess(realJpeg.subarray(0, Math.floor(realJpeg.length * 0.6)), spec128, limits));
    expect(err.code).toBe('LS_IMAGE_DECODE');
  });

  it('rejects text with LS_IMAGE_DECODE', async () => {
    const err = await rejection(preprocess(Buffer.from('this is not an image\n'), spec128, limits));
    expect(err.code).toBe('LS_IMAGE_DECODE');
  });

  it('rejects a format a camera does not deliver (GIF) with LS_IMAGE_DECODE', async () => {
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .gif()
      .toBuffer();
    const err = await rejection(preprocess(gif, spec128, limits));
    expect(err.code).toBe('LS_IMAGE_DECODE');
    expect(err.message).toMatch(/gif/);
  });

  it('refuses a 20000x20000 image from its header with LS_IMAGE_TOO_LARGE, without decoding it', async () => {
    const huge = pngHeaderDeclaring(20_000, 20_000);
    expect(huge.length).toBeLessThan(100);
    const rssBefore = process.memoryUsage().rss;
    const err = await rejection(preprocess(huge, spec128, limits));
    expect(err.code).toBe('LS_IMAGE_TOO_LARGE');
    expect(err.message).toContain('20000x20000');
    // Decoding would need 400 MB for the pixels alone.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it('applies the configured limit: the same header passes the size check under a larger limit', async () => {
    // Proves the refusal above came from max_input_pixels: with room for it, sharp tries and fails on the fake data.
    const err = await rejection(
      preprocess(pngHeaderDeclaring(20_000, 20_000), spec128, { maxInputPixels: 400_000_000 }),
    );
    expect(err.code).toBe('LS_IMAGE_DECODE');
    const small = await rejection(preprocess(realJpeg, spec128, { maxInputPixels: 300 * 300 - 1 }));
    expect(small.code).toBe('LS_IMAGE_TOO_LARGE');
    await expect(preprocess(realJpeg, spec128, { maxInputPixels: 300 * 300 })).resolves.toBeDefined();
  });

  it("grey-bw-late gives the shipped spec's pixels for grey-as-RGB photos (the dataset), byte for byte", async () => {
    const late: PreprocessSpec = { ...spec128, colour: 'grey-bw-late' };
    for (const cls of ['def_front', 'ok_front']) {
      const names = readdirSync(path.join(dataset, cls)).sort().slice(0, 15);
      for (const name of names) {
        const jpeg = readFileSync(path.join(dataset, cls, name));
        const shipped = await preprocess(jpeg, spec128, limits);
        const fast = await preprocess(jpeg, late, limits);
        expect(Buffer.from(fast.pixels).equals(Buffer.from(shipped.pixels)), `${cls}/${name}`).toBe(true);
      }
    }
  });

  it('grey-bw-late differs from grey-bw on a colour image: it is a spec of its own, not a faster grey-bw', async () => {
    const width = 64;
    const height = 48;
    const rgb = Buffer.alloc(width * height * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7919 + 13 * (i >> 3)) % 256;
    const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const small = { ...spec128, width: 20, height: 20 };
    const a = await preprocess(png, small, limits);
    const b = await preprocess(png, { ...small, colour: 'grey-bw-late' }, limits);
    expect(b.pixels.length).toBe(400);
    expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels))).toBe(false);
  });

  it('recognises the accepted formats from their first bytes, and nothing else', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const webp = await sharp(png).webp().toBuffer();
    const tiff = await sharp(png).tiff().toBuffer();
    const gif = await sharp(png).gif().toBuffer();
    expect([realJpeg, png, webp, tiff, gif].map((b) => sniffFormat(b))).toEqual([
      'jpeg',
      'png',
      'webp',
      'tiff',
      undefined,
    ]);
    expect(sniffFormat(Buffer.from('this is not an image'))).toBeUndefined();
  });

  it('the spec schema refuses a kernel or fit left implicit', () => {
    expect(preprocessSpecSchema.safeParse({ ...spec128, resize_kernel: undefined }).success).toBe(false);
    expect(preprocessSpecSchema.safeParse({ ...spec128, fit: 'cover' }).success).toBe(false);
    expect(preprocessSpecSchema.safeParse(spec128).success).toBe(true);
  });
});

describe('toInputTensorData', () => {
  it('gives float32 values exactly equal to the uint8 pixels (normalisation is inside the model)', async () => {
    const { pixels } = await preprocess(realJpeg, spec128, limits);
    const tensor = toInputTensorData(pixels);
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(tensor.length).toBe(pixels.length);
    for (let i = 0; i < pixels.length; i++) expect(tensor[i]).toBe(pixels[i]);
  });

  it('fills a reused buffer and refuses one of the wrong length', () => {
    const out = new Float32Array(4).fill(-1);
    expect(toInputTensorData(Uint8Array.from([0, 1, 254, 255]), out)).toBe(out);
    expect(Array.from(out)).toEqual([0, 1, 254, 255]);
    expect(() => toInputTensorData(new Uint8Array(3), out)).toThrow(LinesideError);
  });
});

describe('shipped bundle preprocessing', () => {
  it('is the spec the training tensors were made with (training/preprocess.json)', async () => {
    const bundle = await loadBundle(path.join(root, 'models/casting-cnn'));
    const trainingSpec: unknown = JSON.parse(readFileSync(path.join(root, 'training/preprocess.json'), 'utf8'));
    expect(bundle.metadata.preprocess).toEqual(trainingSpec);
    const out = await preprocess(realJpeg, bundle.metadata.preprocess, limits);
    expect(out.pixels.length).toBe(bundle.metadata.input.shape[2] * bundle.metadata.input.shape[3]);
  });
});
