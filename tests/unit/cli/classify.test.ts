import { mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClassify } from '../../../src/cli/classify.js';
import { BUNDLE_DIR, corruptBundleCopy, datasetImages, tempDir, writeBadFiles } from '../inference/helpers.js';
import { captureIo, jsonLines } from './helpers.js';

let dir: string;
let goodDir: string;
let badDir: string;
let badFiles: Record<string, string>;
const defective = datasetImages('defective', 6);
const ok = datasetImages('ok', 6);

describe('lineside classify', () => {
  beforeAll(async () => {
    dir = await tempDir('classify');
    goodDir = path.join(dir, 'good', 'nested');
    badDir = path.join(dir, 'bad');
    await mkdir(goodDir, { recursive: true });
    await mkdir(badDir, { recursive: true });
    // Links to the shared dataset: the images are read in place, never copied.
    for (const file of [...defective, ...ok]) await symlink(file, path.join(goodDir, path.basename(file)));
    badFiles = await writeBadFiles(badDir);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one line per image (verdict, score, ms, path) and exits 0', async () => {
    const { io, stdout } = captureIo();
    const status = await runClassify(['--model', BUNDLE_DIR, ...defective, ...ok], io);
    expect(status).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines).toHaveLength(12);
    lines.forEach((line, i) => {
      const match = /^(ok|defective)\s+(\d\.\d{4})\s+(\d+\.\d) ms {2}(.+)$/.exec(line);
      expect(match, line).not.toBeNull();
      expect(match?.[4]).toBe([...defective, ...ok][i]);
    });
    // The shipped model lets no defective casting through on these.
    expect(lines.slice(0, 6).every((line) => line.startsWith('defective'))).toBe(true);
  });

  it('walks folders recursively and --json gives one object per file', async () => {
    const { io, stdout } = captureIo();
    const status = await runClassify(['--model', BUNDLE_DIR, '--json', path.join(dir, 'good')], io);
    expect(status).toBe(0);
    const records = jsonLines(stdout());
    expect(records).toHaveLength(12);
    for (const record of records) {
      expect(Object.keys(record).sort()).toEqual([
        'defect_score',
        'file',
        'inference_ms',
        'preprocess_ms',
        'threshold',
        'verdict',
      ]);
      expect(record.verdict).toBe((record.defect_score as number) >= (record.threshold as number) ? 'defective' : 'ok');
      expect(path.dirname(record.file as string)).toBe(goodDir);
    }
    const defectiveNames = new Set(defective.map((f) => path.basename(f)));
    const escapes = records.filter((r) => defectiveNames.has(path.basename(r.file as string)) && r.verdict === 'ok');
    expect(escapes).toEqual([]);
  });

  it('lists every unreadable or undecodable file with its code, judges the rest, and exits 2', async () => {
    const { io, stdout, stderr } = captureIo();
    const missing = path.join(dir, 'no-such-file.jpeg');
    const status = await runClassify(['--model', BUNDLE_DIR, '--json', badDir, missing, ok[0] as string], io);
    expect(status).toBe(2);
    const records = jsonLines(stdout());
    const errors = Object.fromEntries(
      records
        .filter((r) => 'error' in r)
        .map((r) => [path.basename(r.file as string), (r.error as { code: string }).code]),
    );
    expect(errors).toEqual({ ...badFiles, 'no-such-file.jpeg': 'LS_FILE_UNREADABLE' });
    expect(records.filter((r) => 'verdict' in r)).toHaveLength(1);
    expect(stderr()).toContain('5 could not be judged');
  });

  it('prints errors as text lines too', async () => {
    const { io, stdout } = captureIo();
    expect(await runClassify(['--model', BUNDLE_DIR, path.join(badDir, 'truncated.jpeg')], io)).toBe(2);
    expect(stdout()).toMatch(/^error\s+LS_IMAGE_DECODE\s+\S+truncated\.jpeg: /);
  });

  it('exits 64 on usage errors and 0 with the exit codes on --help', async () => {
    for (const argv of [[], ['--bogus', 'x.jpeg'], ['--providers', 'dml', 'x.jpeg'], ['--providers', '', 'x.jpeg']]) {
      const { io, stderr } = captureIo();
      expect(await runClassify(argv, io), argv.join(' ')).toBe(64);
      expect(stderr()).not.toBe('');
    }
    const { io, stdout } = captureIo();
    expect(await runClassify(['--help'], io)).toBe(0);
    expect(stdout()).toContain('2   some files could not be read or decoded');
  });

  it('exits 78 and writes nothing to stdout when the model fails its checksum', async () => {
    const corrupt = await corruptBundleCopy();
    try {
      const { io, stdout, stderr } = captureIo();
      expect(await runClassify(['--model', corrupt, ok[0] as string], io)).toBe(78);
      expect(stderr()).toContain('LS_MODEL_CHECKSUM');
      expect(stdout()).toBe('');
    } finally {
      await rm(corrupt, { recursive: true, force: true });
    }
  });

  it('stops at Ctrl-C: files already in flight finish, no new ones start, exit 1', async () => {
    const controller = new AbortController();
    const { io, stdout } = captureIo({ signal: controller.signal });
    let lines = 0;
    io.stdout.on('data', () => {
      lines += 1;
      if (lines === 2) controller.abort(new Error('SIGINT'));
    });
    const many = Array.from({ length: 20 }, () => [...defective, ...ok]).flat();
    expect(await runClassify(['--model', BUNDLE_DIR, ...many], io)).toBe(1);
    const judged = stdout().trim().split('\n').length;
    expect(judged).toBeGreaterThanOrEqual(2);
    expect(judged).toBeLessThan(many.length);
  });

  it('exits 69 when no requested execution provider can run (only cuda asked, no CUDA here)', async () => {
    const { io, stderr } = captureIo();
    expect(await runClassify(['--model', BUNDLE_DIR, '--providers', 'cuda', ok[0] as string], io)).toBe(69);
    expect(stderr()).toContain('LS_EP_UNAVAILABLE');
  });

  it("--cam DIR writes each image's heat map as NAME.cam.png at the model input size, with the same verdicts", async () => {
    const camDir = path.join(dir, 'cams');
    const files = [defective[0]!, ok[0]!];
    const plain = captureIo();
    expect(await runClassify(['--model', BUNDLE_DIR, '--json', ...files], plain.io)).toBe(0);
    const { io, stdout } = captureIo();
    expect(await runClassify(['--model', BUNDLE_DIR, '--json', '--cam', camDir, ...files], io)).toBe(0);
    const strip = (records: Record<string, unknown>[]): unknown[] =>
      records.map(({ file, verdict, defect_score }) => ({ file, verdict, defect_score }));
    expect(strip(jsonLines(stdout()))).toEqual(strip(jsonLines(plain.stdout())));
    for (const file of files) {
      const png = path.join(camDir, `${path.parse(file).name}.cam.png`);
      expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 128, height: 128, channels: 1 });
      const data = await sharp(png).extractChannel(0).raw().toBuffer();
      expect(Math.max(...data)).toBe(255);
      expect(Math.min(...data)).toBeLessThan(128);
    }
  });
});
