import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { waitFor } from '../wait.js';
import { labelledFolder, lineConfig, memoryLogger, tempDir } from './harness.js';

let dir: { path: string; remove: () => Promise<void> };
let images: string;

beforeAll(async () => {
  dir = await tempDir('record-storage');
  images = await labelledFolder(dir.path, 6);
});

afterAll(async () => {
  await dir.remove();
});

describe('the line record when its storage fails', { timeout: 120_000 }, () => {
  it('keeps inspecting, raises the storage alarm once and says so in the record health', async () => {
    const recordDir = path.join(dir.path, 'var');
    await mkdir(recordDir);
    // A file where the archive directory should be: every image write fails, as on a broken disk.
    await writeFile(path.join(recordDir, 'images'), 'not a directory');
    const loaded = lineConfig({
      images,
      mqttUrl: 'embedded',
      outbox: path.join(dir.path, 'outbox'),
      mqtt: { url: 'embedded', embedded_port: 0, outbox_dir: path.join(dir.path, 'outbox') },
      record: { dir: recordDir, sample_passes: 1 },
    });
    const { logger, records } = memoryLogger();
    const app = createApp({ loaded, logger, env: {}, maxParts: 8 });
    await app.start(new AbortController().signal);
    await app.done;
    // The last images may still be in the writer's queue: each failed write clears the reference it announced.
    await waitFor(() => (app.record?.history({ withImage: true }) ?? []).length === 0, 15_000, 'failed writes');
    const health = app.record?.health();
    const rows = app.record?.history({}) ?? [];
    await app.stop();
    const summary = app.summary();
    expect(summary.parts).toBe(8);
    const alarms = records().filter((r) => r.code === 'LS_ALARM' && r.kind === 'storage');
    expect(alarms).toHaveLength(1);
    expect(String(alarms[0]?.msg)).toMatch(/image archive/);
    expect(health).toMatchObject({ healthy: false });
    expect(health?.reason).toMatch(/image archive/);
    // Every part is in the history all the same, none with an image.
    expect(rows).toHaveLength(8);
    expect(rows.filter((r) => r.imageRef !== undefined)).toEqual([]);
    expect(records().filter((r) => r.code === 'LS_RECORD_IO').length).toBeGreaterThan(0);
  });
});
