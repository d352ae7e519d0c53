/**
 * Run by gphoto2-disk.test.ts inside a private mount namespace (unshare -m) with a tmpfs mounted at argv[2]:
 * libgphoto2 lists a mounted filesystem holding DCIM/ as a "Mass Storage Camera" (the directory camlib),
 * which gives the real library and addon something to detect, open and fail to capture from.
 * Prints pino JSON lines, then one JSON line with the outcome, all on stdout.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { Gphoto2Camera } from '../../../src/camera/gphoto2.js';
import { gphoto2Camera } from '../../../src/config/sections/camera.js';

const mountDir = process.argv[2];
if (mountDir === undefined) throw new Error('usage: gphoto2-disk-probe.ts MOUNT_DIR');
const dcim = path.join(mountDir, 'DCIM', '100TEST');
mkdirSync(dcim, { recursive: true });
await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 90, b: 90 } } })
  .jpeg()
  .toFile(path.join(dcim, 'IMG_0001.JPG'));

const logger = pino({ level: 'debug' }, pino.destination({ dest: 1, sync: true }));
const camera = new Gphoto2Camera({
  config: gphoto2Camera.parse({ type: 'gphoto2', port: `disk:${mountDir}`, timeout_ms: 10_000 }),
  logger,
});
const outcome: Record<string, unknown> = {};
const never = new AbortController().signal;
try {
  await camera.start(never);
  outcome.selected = camera.selected;
  await camera.capture(never).then(
    (image) => {
      outcome.capture = { bytes: image.data.length };
    },
    (err: { code?: string; message?: string; cause?: { result?: number } }) => {
      outcome.capture = { code: err.code, message: err.message, result: err.cause?.result };
    },
  );
} catch (err) {
  outcome.startError = { code: (err as { code?: string }).code, message: (err as Error).message };
} finally {
  await camera.stop();
}
process.stdout.write(`${JSON.stringify({ outcome })}\n`);
