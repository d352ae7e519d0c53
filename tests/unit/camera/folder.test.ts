import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderCamera, replayOrder, scanImageFolder } from '../../../src/camera/folder.js';
import { folderCamera, type FolderCameraConfig } from '../../../src/config/sections/camera.js';
import { makeFifo, releaseFifo, within } from '../fifo.js';
import { waitFor } from '../../wait.js';
import { DATASET_DIR, memoryLogger } from './helpers.js';

const never = new AbortController().signal;

function config(overrides: Partial<FolderCameraConfig> & { path: string }): FolderCameraConfig {
  return folderCamera.parse({ type: 'folder', ...overrides });
}

function camera(overrides: Partial<FolderCameraConfig> & { path: string }, baseDir = '/'): FolderCamera {
  return new FolderCamera({ config: config(overrides), logger: memoryLogger().logger, baseDir });
}

async function captureSources(cam: FolderCamera, count: number): Promise<string[]> {
  const sources: string[] = [];
  for (let i = 0; i < count; i++) sources.push((await cam.capture(never)).source);
  return sources;
}

async function writeImage(file: string, grey: number): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const image = sharp({ create: { width: 32, height: 32, channels: 3, background: { r: grey, g: grey, b: grey } } });
  await (file.endsWith('.png') ? image.png() : image.jpeg()).toFile(file);
}

describe('folder camera over the casting dataset', () => {
  it('labels every image from def_front/ and ok_front/ and serves the real bytes', async () => {
    const cam = camera({ path: DATASET_DIR, order: 'sequential' });
    await cam.start(never);
    expect(cam.imageCount).toBe(6633);
    const first = await cam.capture(never);
    expect(first.source).toBe(path.join(DATASET_DIR, 'def_front', 'cast_def_0_0.jpeg'));
    expect(first.label).toBe('defective');
    expect(first.data.equals(readFileSync(first.source))).toBe(true);
    const metadata = await sharp(first.data).metadata();
    expect([metadata.width, metadata.height, metadata.format]).toEqual([300, 300, 'jpeg']);
    await cam.stop();
  });

  it('counts 3758 defective and 2875 ok labels', async () => {
    const images = await scanImageFolder(DATASET_DIR, never);
    const defective = images.filter((image) => image.label === 'defective');
    const ok = images.filter((image) => image.label === 'ok');
    expect(defective.length).toBe(3758);
    expect(ok.length).toBe(2875);
    expect(defective.every((image) => image.file.includes(`${path.sep}def_front${path.sep}`))).toBe(true);
    expect(ok.every((image) => image.file.includes(`${path.sep}ok_front${path.sep}`))).toBe(true);
  });

  it('shuffle is seeded: same seed same sequence, other seed other sequence, mixing both labels', async () => {
    const a = camera({ path: DATASET_DIR, seed: 7 });
    const b = camera({ path: DATASET_DIR, seed: 7 });
    const c = camera({ path: DATASET_DIR, seed: 8 });
    await Promise.all([a.start(never), b.start(never), c.start(never)]);
    const [sa, sb, sc] = await Promise.all([captureSources(a, 40), captureSources(b, 40), captureSources(c, 40)]);
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(sa.some((s) => s.includes('def_front'))).toBe(true);
    expect(sa.some((s) => s.includes('ok_front'))).toBe(true);
  });
});

describe('replayOrder', () => {
  it('is a permutation covering every image once per pass, different each pass, repeatable', () => {
    const pass0 = replayOrder(1000, 'shuffle', 1, 0);
    const pass1 = replayOrder(1000, 'shuffle', 1, 1);
    expect([...pass0].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...pass1].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(pass0).not.toEqual(pass1);
    expect(replayOrder(1000, 'shuffle', 1, 1)).toEqual(pass1);
    expect(replayOrder(5, 'sequential', 1, 3)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('folder camera over a generated folder', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lineside-folder-cam-'));
    await writeImage(path.join(dir, 'plain', 'b.jpg'), 10);
    await writeImage(path.join(dir, 'plain', 'a.png'), 20);
    await writeImage(path.join(dir, 'plain', 'nested', 'deeper', 'c.JPEG'), 30);
    writeFileSync(path.join(dir, 'plain', 'notes.txt'), 'not an image');
    writeFileSync(path.join(dir, 'plain', 'nested', 'thumbs.db'), 'not an image');
    mkdirSync(path.join(dir, 'empty', 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'empty', 'readme.md'), '# nothing here');
    await writeImage(path.join(dir, 'onlyok', 'ok_front', 'x.jpg'), 40);
    await writeImage(path.join(dir, 'onlyok', 'stray.jpg'), 50);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('without label folders serves every image recursively, image extensions only, without labels', async () => {
    const cam = camera({ path: path.join(dir, 'plain'), order: 'sequential' });
    await cam.start(never);
    const captures = await Promise.all([cam.capture(never), cam.capture(never), cam.capture(never)]);
    expect(captures.map((c) => path.relative(path.join(dir, 'plain'), c.source))).toEqual([
      'a.png',
      'b.jpg',
      path.join('nested', 'deeper', 'c.JPEG'),
    ]);
    expect(captures.every((c) => c.label === undefined && !('label' in c))).toBe(true);
  });

  it('with one label folder uses only it (stray top-level images are not labelled parts)', async () => {
    const cam = camera({ path: path.join(dir, 'onlyok') });
    await cam.start(never);
    expect(cam.imageCount).toBe(1);
    expect(await cam.capture(never)).toMatchObject({
      label: 'ok',
      source: path.join(dir, 'onlyok', 'ok_front', 'x.jpg'),
    });
  });

  it('loops back to the start when loop is on', async () => {
    const cam = camera({ path: path.join(dir, 'plain'), order: 'sequential', loop: true });
    await cam.start(never);
    const sources = await captureSources(cam, 7);
    expect(sources.slice(3, 6)).toEqual(sources.slice(0, 3));
    expect(sources[6]).toBe(sources[0]);
    expect(cam.exhausted).toBe(false);
  });

  it('with loop off fails captures after the last image and reports exhausted', async () => {
    const cam = camera({ path: path.join(dir, 'plain'), order: 'shuffle', loop: false });
    await cam.start(never);
    const sources = await captureSources(cam, 3);
    expect(new Set(sources).size).toBe(3);
    expect(cam.exhausted).toBe(true);
    await expect(cam.capture(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_ERROR',
      message: expect.stringContaining('loop is off'),
    });
  });

  it('resolves a relative path against baseDir', async () => {
    const cam = camera({ path: 'plain' }, dir);
    await cam.start(never);
    expect(cam.root).toBe(path.join(dir, 'plain'));
    expect(cam.imageCount).toBe(3);
  });

  it('start fails with LS_CAMERA_NOT_FOUND for a missing folder, a file, or a folder without images', async () => {
    await expect(camera({ path: path.join(dir, 'missing') }).start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('does not exist'),
    });
    await expect(camera({ path: path.join(dir, 'plain', 'b.jpg') }).start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
    });
    await expect(camera({ path: path.join(dir, 'empty') }).start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('no images'),
    });
  });

  it('capture before start is an error, not a crash', async () => {
    await expect(camera({ path: dir }).capture(never)).rejects.toMatchObject({ code: 'LS_CAMERA_ERROR' });
  });

  it('a file deleted mid-run fails that capture with LS_CAMERA_ERROR and the next capture still works', async () => {
    const run = path.join(dir, 'midrun');
    await writeImage(path.join(run, '1.jpg'), 60);
    await writeImage(path.join(run, '2.jpg'), 70);
    await writeImage(path.join(run, '3.jpg'), 80);
    const cam = camera({ path: run, order: 'sequential' });
    await cam.start(never);
    unlinkSync(path.join(run, '2.jpg'));
    expect((await cam.capture(never)).source).toBe(path.join(run, '1.jpg'));
    await expect(cam.capture(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_ERROR',
      message: expect.stringContaining(path.join(run, '2.jpg')),
    });
    expect((await cam.capture(never)).source).toBe(path.join(run, '3.jpg'));
  });

  it('FIFOs among the images, more than libuv has pool threads, each fail at once with LS_CAMERA_ERROR; images and logging still work', async () => {
    // A FIFO with no writer blocks open(2); on the libuv pool that thread never comes back, and four of them
    // (the default pool size) stall every file read and the asynchronous log writes of the whole process.
    const run = path.join(dir, 'fifos');
    mkdirSync(run, { recursive: true });
    const real = readdirSync(path.join(DATASET_DIR, 'ok_front')).sort().slice(0, 4);
    const fifos: string[] = [];
    for (let i = 0; i < 6; i++) {
      const fifo = makeFifo(path.join(dir, `pipe-${i}`));
      fifos.push(fifo);
      // Linked in, as recorded runs are assembled: the scan takes links, and only the read can tell.
      symlinkSync(fifo, path.join(run, `${i}-b-pipe.jpeg`));
      if (i < real.length)
        copyFileSync(path.join(DATASET_DIR, 'ok_front', real[i]!), path.join(run, `${i}-a-image.jpeg`));
    }
    // And one image replaced by a FIFO after start (a file can change under a running replay).
    copyFileSync(path.join(DATASET_DIR, 'ok_front', real[0]!), path.join(run, '9-late.jpeg'));
    const logFile = path.join(dir, 'fifo-run.log');
    const destination = pino.destination({ dest: logFile, sync: false });
    const cam = new FolderCamera({
      config: config({ path: run, order: 'sequential', timeout_ms: 1000 }),
      logger: pino(destination),
      baseDir: '/',
    });
    await cam.start(never);
    unlinkSync(path.join(run, '9-late.jpeg'));
    fifos.push(makeFifo(path.join(run, '9-late.jpeg')));
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < cam.imageCount; i++) {
        const result = await within(cam.capture(never), 10_000, `capture ${i}`).then(
          (image) =>
            `image ${path.basename(image.source)} ${image.data.equals(readFileSync(image.source)) ? 'bytes ok' : 'bytes differ'}`,
          (err: unknown) =>
            `${(err as { code?: string }).code} ${String((err as Error).message).includes('not a regular file (a FIFO)') ? 'FIFO refused' : (err as Error).message}`,
        );
        outcomes.push(result);
      }
      const images = real.map((_, i) => `image ${i}-a-image.jpeg bytes ok`);
      const refused = 'LS_CAMERA_ERROR FIFO refused';
      expect(outcomes).toEqual([
        images[0],
        refused,
        images[1],
        refused,
        images[2],
        refused,
        images[3],
        refused,
        refused,
        refused,
        refused,
      ]);
      // Logging (pino's asynchronous writes on the same pool) still reaches the file.
      pino(destination).info('still logging');
      await waitFor(() => readFileSync(logFile, 'utf8').includes('still logging'), 10_000, 'the log line in the file');
    } finally {
      for (const fifo of fifos) releaseFifo(fifo);
      await cam.stop();
      destination.end();
    }
  });

  it('honours the caller abort signal', async () => {
    const cam = camera({ path: path.join(dir, 'plain') });
    await cam.start(never);
    const caller = new AbortController();
    caller.abort();
    await expect(cam.capture(caller.signal)).rejects.toMatchObject({ code: 'LS_CAMERA_TIMEOUT' });
  });
});
