import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRegularFile } from '../../src/regular-file.js';
import { DATASET_DIR } from './camera/helpers.js';
import { makeFifo, releaseFifo, within } from './fifo.js';

let dir: string;
let image: string;
const fifos: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lineside-regular-file-'));
  image = path.join(dir, 'part.jpeg');
  copyFileSync(path.join(DATASET_DIR, 'ok_front', 'cast_ok_0_1.jpeg'), image);
  writeFileSync(path.join(dir, 'big.bin'), '');
  truncateSync(path.join(dir, 'big.bin'), 2 * 1024 * 1024);
});

afterAll(() => {
  for (const fifo of fifos) releaseFifo(fifo);
  rmSync(dir, { recursive: true, force: true });
});

describe('readRegularFile', () => {
  it('reads a regular file, through a symlink too', async () => {
    symlinkSync(image, path.join(dir, 'link.jpeg'));
    expect((await readRegularFile(image)).equals(readFileSync(image))).toBe(true);
    expect((await readRegularFile(path.join(dir, 'link.jpeg'))).equals(readFileSync(image))).toBe(true);
  });

  it('refuses FIFOs at once, more of them than libuv has pool threads, and file I/O still works after', async () => {
    for (let i = 0; i < 6; i++) fifos.push(makeFifo(path.join(dir, `pipe-${i}`)));
    symlinkSync(fifos[0]!, path.join(dir, 'pipe-link.jpeg'));
    for (const file of [...fifos, path.join(dir, 'pipe-link.jpeg')]) {
      await expect(within(readRegularFile(file), 10_000, file)).rejects.toMatchObject({
        code: 'LS_FILE_UNREADABLE',
        message: expect.stringContaining('not a regular file (a FIFO)'),
      });
    }
    expect((await within(readRegularFile(image), 10_000, 'image after the FIFOs')).length).toBeGreaterThan(0);
  });

  it('refuses a directory and a character device, and reports a missing file', async () => {
    await expect(readRegularFile(dir)).rejects.toMatchObject({
      code: 'LS_FILE_UNREADABLE',
      message: expect.stringContaining('a directory'),
    });
    await expect(readRegularFile('/dev/zero')).rejects.toMatchObject({
      code: 'LS_FILE_UNREADABLE',
      message: expect.stringContaining('a character device'),
    });
    await expect(readRegularFile(path.join(dir, 'nope.jpeg'))).rejects.toMatchObject({
      code: 'LS_FILE_UNREADABLE',
      message: expect.stringContaining('ENOENT'),
    });
  });

  it('refuses a file over maxBytes unread, and stops when its signal aborts', async () => {
    await expect(readRegularFile(path.join(dir, 'big.bin'), { maxBytes: 1024 * 1024 })).rejects.toMatchObject({
      code: 'LS_IMAGE_TOO_LARGE',
    });
    const aborted = AbortSignal.abort(new Error('deadline'));
    await expect(readRegularFile(image, { signal: aborted })).rejects.toMatchObject({ code: 'LS_FILE_UNREADABLE' });
  });
});
