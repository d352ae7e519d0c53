import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LinesideError } from '../../../src/errors.js';
import { BUNDLE_METADATA_FILE, loadBundle } from '../../../src/inference/bundle.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shipped = path.join(root, 'models/casting-cnn');
const temps: string[] = [];

function copyOfShipped(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lineside-bundle-'));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  return dir;
}

function editMetadata(dir: string, edit: (meta: Record<string, unknown>) => void): void {
  const file = path.join(dir, BUNDLE_METADATA_FILE);
  const meta = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(meta);
  writeFileSync(file, JSON.stringify(meta));
}

async function loadError(dir: string): Promise<LinesideError> {
  const err = await loadBundle(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LinesideError);
  return err as LinesideError;
}

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('loadBundle with the shipped model', () => {
  it('verifies and returns the metadata, path and bytes', async () => {
    const bundle = await loadBundle(shipped);
    const { metadata } = bundle;
    expect(bundle.onnxPath).toBe(path.join(shipped, metadata.onnx.file));
    expect(createHash('sha256').update(bundle.onnxBytes).digest('hex')).toBe(metadata.onnx.sha256);
    expect(bundle.onnxBytes.length).toBe(statSync(bundle.onnxPath).size);
    expect(metadata.input.shape).toEqual([1, 1, metadata.preprocess.height, metadata.preprocess.width]);
    expect(metadata.decision.threshold).toBeGreaterThan(0);
    expect(metadata.decision.threshold).toBeLessThan(1);
  });

  it('records zero validation escapes at its threshold, a consistent accuracy, and fits in 2 MB', async () => {
    const { metadata } = await loadBundle(shipped);
    const cm = metadata.validation.confusion_matrix;
    expect(cm.escapes).toBe(0);
    expect(metadata.validation.accuracy).toBeCloseTo((cm.true_defective + cm.true_ok) / metadata.validation.images, 5);
    expect(metadata.onnx.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    // The threshold keeps every validation defective at or above it, as the card claims.
    expect(metadata.validation.min_defective_score).toBeGreaterThanOrEqual(metadata.decision.threshold);
  });

  it('ships the validation file list it names, with the recorded number of images', async () => {
    const { metadata } = await loadBundle(shipped);
    const rows = readFileSync(path.join(shipped, metadata.validation.files), 'utf8').trim().split('\n').slice(1);
    expect(rows).toHaveLength(metadata.validation.images);
    const defective = rows.filter((r) => r.startsWith('1\t')).length;
    const cm = metadata.validation.confusion_matrix;
    expect(defective).toBe(cm.true_defective + cm.escapes);
  });
});

describe('loadBundle refuses', () => {
  it('a model whose bytes do not match the recorded sha256 (one byte changed): LS_MODEL_CHECKSUM', async () => {
    const dir = copyOfShipped();
    const onnx = path.join(dir, 'model.onnx');
    const bytes = readFileSync(onnx);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(onnx, bytes);
    const err = await loadError(dir);
    expect(err.code).toBe('LS_MODEL_CHECKSUM');
    expect(err.message).toContain('sha256');
  });

  it('a missing .onnx file: LS_MODEL_MISSING', async () => {
    const dir = copyOfShipped();
    rmSync(path.join(dir, 'model.onnx'));
    expect((await loadError(dir)).code).toBe('LS_MODEL_MISSING');
  });

  it('a missing bundle directory: LS_MODEL_MISSING', async () => {
    expect((await loadError(path.join(tmpdir(), 'lineside-no-such-bundle'))).code).toBe('LS_MODEL_MISSING');
  });

  it('metadata that is not JSON: LS_MODEL_INVALID', async () => {
    const dir = copyOfShipped();
    writeFileSync(path.join(dir, BUNDLE_METADATA_FILE), '{ "name": "casting-cnn", ');
    expect((await loadError(dir)).code).toBe('LS_MODEL_INVALID');
  });

  it('metadata without a threshold: LS_MODEL_INVALID naming the key', async () => {
    const dir = copyOfShipped();
    editMetadata(dir, (meta) => {
      delete (meta.decision as Record<string, unknown>).threshold;
    });
    const err = await loadError(dir);
    expect(err.code).toBe('LS_MODEL_INVALID');
    expect(err.message).toContain('decision.threshold');
  });

  it('an input shape that disagrees with the preprocessing size: LS_MODEL_INVALID', async () => {
    const dir = copyOfShipped();
    editMetadata(dir, (meta) => {
      (meta.input as { shape: number[] }).shape = [1, 1, 64, 64];
    });
    const err = await loadError(dir);
    expect(err.code).toBe('LS_MODEL_INVALID');
    expect(err.message).toContain('input.shape');
  });

  it('an onnx file name that leaves the bundle directory: LS_MODEL_INVALID', async () => {
    const dir = copyOfShipped();
    editMetadata(dir, (meta) => {
      (meta.onnx as { file: string }).file = '../model.onnx';
    });
    expect((await loadError(dir)).code).toBe('LS_MODEL_INVALID');
  });
});
