import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFifo, releaseFifo, within } from '../fifo.js';
import { findPython } from './python.js';
import { readTensorFile, runExportTensors } from '../../../src/cli/export-tensors.js';
import { loadBundle } from '../../../src/inference/bundle.js';
import { preprocess, toInputTensorData, type PreprocessSpec } from '../../../src/inference/preprocess.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dataset = path.resolve(root, '../shared/casting/train');
const pythonReader = path.join(root, 'training/lineside_tensors.py');
const limits = { maxInputPixels: 40_000_000 };

function capture(): { io: { stdout: PassThrough; stderr: PassThrough }; text: () => { out: string; err: string } } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  return {
    io: { stdout, stderr },
    text: () => ({ out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() }),
  };
}

let work: string;
let spec: PreprocessSpec;
const picked: { rel: string; label: number }[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'lineside-export-'));
  // The shipped model's own spec: what the daemon will do to every part.
  spec = (await loadBundle(path.join(root, 'models/casting-cnn'))).metadata.preprocess;
  writeFileSync(path.join(work, 'spec.json'), JSON.stringify(spec));
  // A small labelled folder of real photos, linked (not copied) from the dataset.
  for (const [folder, label] of [
    ['def_front', 1],
    ['ok_front', 0],
  ] as const) {
    mkdirSync(path.join(work, 'data', folder), { recursive: true });
    const names = readdirSync(path.join(dataset, folder)).sort().slice(0, 3);
    for (const name of names) {
      symlinkSync(path.join(dataset, folder, name), path.join(work, 'data', folder, name));
      picked.push({ rel: path.join(folder, name), label });
    }
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('lineside export-tensors', () => {
  it('writes exactly the bytes the daemon computes for each image, with labels and a file list', async () => {
    const out = path.join(work, 'out', 'tensors.lstens');
    const { io, text } = capture();
    const code = await runExportTensors(['--data', path.join(work, 'data'), '--out', out, '--spec', path.join(work, 'spec.json')], io);
    expect(text().err).toBe('');
    expect(code).toBe(0);
    expect(text().out).toMatch(/6 images \(3 defective, 3 ok\)/);

    const file = await readTensorFile(out);
    expect(file.header.count).toBe(6);
    expect(file.header.preprocess).toEqual(spec);
    const list = readFileSync(`${out}.files.tsv`, 'utf8').trim().split('\n').slice(1);
    expect(list).toHaveLength(6);
    const size = spec.width * spec.height;
    for (const [i, line] of list.entries()) {
      const [index, label, rel] = line.split('\t');
      expect(Number(index)).toBe(i);
      const expected = picked.find((p) => p.rel === rel);
      expect(expected).toBeDefined();
      expect(Number(label)).toBe(expected!.label);
      expect(file.labels[i]).toBe(expected!.label);
      const daemon = await preprocess(readFileSync(path.join(dataset, rel!)), spec, limits);
      const exported = file.pixels.subarray(i * size, (i + 1) * size);
      expect(Buffer.from(exported).equals(Buffer.from(daemon.pixels))).toBe(true);
      // And the float tensor the worker feeds ORT holds the same numbers training saw.
      expect(Array.from(toInputTensorData(daemon.pixels))).toEqual(Array.from(exported));
    }
  });

  it('the Python reader used by training/train.py sees the same pixels and labels', async (ctx) => {
    const python = findPython('numpy');
    if (python === undefined) {
      ctx.skip('python3 with numpy not found (set PYTHON=...); the TypeScript side of parity is checked above');
      return;
    }
    const out = path.join(work, 'py.lstens');
    const { io } = capture();
    expect(await runExportTensors(['--data', path.join(work, 'data'), '--out', out, '--spec', path.join(work, 'spec.json')], io)).toBe(0);
    const list = readFileSync(`${out}.files.tsv`, 'utf8').trim().split('\n').slice(1);
    for (const [i, line] of list.entries()) {
      const rel = line.split('\t')[2]!;
      const run = spawnSync(python, [pythonReader, out, String(i)], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const seen = JSON.parse(run.stdout) as { label: number; pixels_hex: string };
      const daemon = await preprocess(readFileSync(path.join(dataset, rel)), spec, limits);
      expect(seen.pixels_hex).toBe(Buffer.from(daemon.pixels).toString('hex'));
      expect(seen.label).toBe(picked.find((p) => p.rel === rel)!.label);
    }
  });

  it('writes nothing and exits 65 when one image is bad, naming it', async () => {
    const data = path.join(work, 'bad-data');
    mkdirSync(path.join(data, 'def_front'), { recursive: true });
    mkdirSync(path.join(data, 'ok_front'), { recursive: true });
    const good = picked[0]!;
    symlinkSync(path.join(dataset, good.rel), path.join(data, 'def_front', 'good.jpeg'));
    writeFileSync(path.join(data, 'ok_front', 'cut.jpeg'), readFileSync(path.join(dataset, good.rel)).subarray(0, 2000));
    const out = path.join(work, 'bad.lstens');
    const { io, text } = capture();
    expect(await runExportTensors(['--data', data, '--out', out, '--spec', path.join(work, 'spec.json')], io)).toBe(65);
    expect(text().err).toMatch(/cut\.jpeg: LS_IMAGE_DECODE/);
    expect(() => readFileSync(out)).toThrow();
  });

  it('refuses an image that is a FIFO at once, naming it, instead of waiting on it forever', async () => {
    const data = path.join(work, 'fifo-data');
    mkdirSync(path.join(data, 'def_front'), { recursive: true });
    mkdirSync(path.join(data, 'ok_front'), { recursive: true });
    symlinkSync(path.join(dataset, picked[0]!.rel), path.join(data, 'def_front', 'good.jpeg'));
    const fifo = makeFifo(path.join(data, 'ok_front', 'pipe.jpeg'));
    const { io, text } = capture();
    try {
      const run = runExportTensors(['--data', data, '--out', path.join(work, 'fifo.lstens'), '--spec', path.join(work, 'spec.json')], io);
      expect(await within(run, 10_000, 'export-tensors')).toBe(65);
    } finally {
      releaseFifo(fifo);
    }
    expect(text().err).toMatch(/pipe\.jpeg: LS_FILE_UNREADABLE not a regular file \(a FIFO\)/);
  });

  it('rejects usage errors and a malformed spec', async () => {
    const { io, text } = capture();
    expect(await runExportTensors(['--data', 'x'], io)).toBe(64);
    expect(text().err).toMatch(/required/);
    writeFileSync(path.join(work, 'bad-spec.json'), JSON.stringify({ ...spec, fit: 'cover' }));
    const second = capture();
    const code = await runExportTensors(
      ['--data', path.join(work, 'data'), '--out', path.join(work, 'x.lstens'), '--spec', path.join(work, 'bad-spec.json')],
      second.io,
    );
    expect(code).toBe(65);
    expect(second.text().err).toMatch(/fit/);
  });

  it('readTensorFile refuses a file that is not one', async () => {
    writeFileSync(path.join(work, 'junk.lstens'), 'not a tensor file at all');
    await expect(readTensorFile(path.join(work, 'junk.lstens'))).rejects.toMatchObject({ code: 'LS_FILE_UNREADABLE' });
  });
});
