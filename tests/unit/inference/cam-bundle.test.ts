import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseCam } from '../../../src/inference/cam.js';
import { WorkerInspector } from '../../../src/inference/worker-inspector.js';
import { LinesideError } from '../../../src/errors.js';
import { BUNDLE_DIR, DATASET_DIR, datasetImages, inferenceConfig } from './helpers.js';

/** Scores of casting-cnn 1.0.0, before the class-activation output was added (see the fixture's `about`). */
const PINNED = new URL('./fixtures/casting-cnn-1.0.0-scores.json', import.meta.url);

describe('the bundle with a class-activation output (issue 11 item 5)', () => {
  let inspector: WorkerInspector;

  beforeAll(async () => {
    inspector = new WorkerInspector({ bundleDir: BUNDLE_DIR, inference: inferenceConfig() });
    await inspector.start(new AbortController().signal);
  });
  afterAll(async () => {
    await inspector.stop();
  });

  it('keeps the verdict output of 1.0.0 bit for bit on real images', async () => {
    const pinned = JSON.parse(await readFile(PINNED, 'utf8')) as {
      model: { sha256: string };
      scores: Record<string, number>;
    };
    expect(inspector.info.sha256).not.toBe(pinned.model.sha256);
    const files = Object.keys(pinned.scores);
    expect(files.length).toBe(60);
    for (const file of files) {
      const inspection = await inspector.inspect(await readFile(path.join(DATASET_DIR, file)));
      // Exact equality: the float32 score of the new graph against the one the old graph gave.
      expect({ file, score: inspection.defectScore }).toEqual({ file, score: pinned.scores[file] });
    }
  });

  it('explains a real defective casting: a valid heat map, and the inspection inspect() gives for the same bytes', async () => {
    const [file] = datasetImages('defective', 1);
    const image = await readFile(file!);
    const { inspection, heatmap } = await inspector.explain(image);
    const plain = await inspector.inspect(image);
    expect(inspection).toMatchObject({
      defectScore: plain.defectScore,
      verdict: plain.verdict,
      threshold: plain.threshold,
    });
    expect(inspection.verdict).toBe('defective');
    expect(heatmap.width).toBe(128);
    expect(heatmap.height).toBe(128);
    expect(heatmap.values).toBeInstanceOf(Float32Array);
    expect(heatmap.values.length).toBe(128 * 128);
    let min = Infinity;
    let max = -Infinity;
    for (const v of heatmap.values) {
      expect(Number.isFinite(v)).toBe(true);
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBe(1);
    expect(min).toBeLessThan(0.5);
  });

  it('explain() on bytes that are not an image rejects like inspect() (LS_IMAGE_DECODE)', async () => {
    const err = await inspector.explain(Buffer.from('not an image')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinesideError);
    expect((err as LinesideError).code).toBe('LS_IMAGE_DECODE');
  });
});

describe('normaliseCam', () => {
  it('scales to 0..1 by the maximum, keeps an all-zero map at zero, refuses a non-finite value', () => {
    expect([...normaliseCam(Float32Array.from([0, 2, 4]))]).toEqual([0, 0.5, 1]);
    expect([...normaliseCam(Float32Array.from([0, 0]))]).toEqual([0, 0]);
    expect(() => normaliseCam(Float32Array.from([1, Number.NaN]))).toThrow(/non-finite/);
  });
});
