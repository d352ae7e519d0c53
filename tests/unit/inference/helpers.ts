import { readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { expect } from 'vitest';
import { LinesideError } from '../../../src/errors.js';
import { inferenceSection, type InferenceConfig } from '../../../src/config/sections/inference.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The shipped model bundle: the tests run the real model. */
export const BUNDLE_DIR = path.join(PROJECT_ROOT, 'models', 'casting-cnn');
/** The shared dataset, read in place (never copied into the project). */
export const DATASET_DIR = path.resolve(PROJECT_ROOT, '..', 'shared', 'casting', 'train');
export const FOLDERS = { defective: 'def_front', ok: 'ok_front' } as const;

/** The first `count` images of a class, in name order: the same real images on every run. */
export function datasetImages(label: keyof typeof FOLDERS, count: number): string[] {
  const dir = path.join(DATASET_DIR, FOLDERS[label]);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jpeg') || name.endsWith('.jpg'))
    .sort()
    .slice(0, count)
    .map((name) => path.join(dir, name));
}

export function inferenceConfig(overrides: Partial<InferenceConfig> = {}): InferenceConfig {
  return inferenceSection.parse(overrides);
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines the test reads back. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `lineside-${prefix}-`));
}

/** A copy of the shipped bundle whose .onnx has one byte changed (model.json still names the old sha256). */
export async function corruptBundleCopy(): Promise<string> {
  const dir = await tempDir('corrupt-bundle');
  await cp(BUNDLE_DIR, dir, { recursive: true });
  const metadata = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as { onnx: { file: string } };
  const onnxPath = path.join(dir, metadata.onnx.file);
  const bytes = await readFile(onnxPath);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] as number) ^ 0xff;
  await writeFile(onnxPath, bytes);
  return dir;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A small, valid-looking PNG whose header declares width x height greyscale pixels (with a tiny IDAT): the
 * classic decompression bomb shape. Decoding it for real would need width*height bytes.
 */
export function hugePngHeader(width = 20_000, height = 20_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Every kind of bad input file, written into `dir`; returns name -> expected error code. */
export async function writeBadFiles(dir: string): Promise<Record<string, string>> {
  const realJpeg = await readFile(datasetImages('ok', 1)[0] as string);
  await writeFile(path.join(dir, 'zero-bytes.jpeg'), Buffer.alloc(0));
  await writeFile(path.join(dir, 'truncated.jpeg'), realJpeg.subarray(0, Math.floor(realJpeg.length / 2)));
  await writeFile(path.join(dir, 'not-an-image.jpeg'), 'this is a text file, not a photograph\n');
  await writeFile(path.join(dir, 'huge.png'), hugePngHeader());
  return {
    'zero-bytes.jpeg': 'LS_IMAGE_DECODE',
    'truncated.jpeg': 'LS_IMAGE_DECODE',
    'not-an-image.jpeg': 'LS_IMAGE_DECODE',
    'huge.png': 'LS_IMAGE_TOO_LARGE',
  };
}

/** The LinesideError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function rejection(promise: Promise<unknown>): Promise<LinesideError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LinesideError);
  return err as LinesideError;
}
