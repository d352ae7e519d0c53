import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordSection, type RecordConfig } from '../../../src/config/sections/record.js';
import { LineRecord } from '../../../src/record/index.js';
import { DATASET, memoryLogger } from '../../integration/harness.js';
import { partRecord, REJECT } from './parts.js';

const MiB = 2 ** 20;
const JPEGS = readdirSync(join(DATASET, 'def_front'))
  .sort()
  .slice(0, 20)
  .map((f) => readFileSync(join(DATASET, 'def_front', f)));

/** Mounts an 8 MiB tmpfs (root only, as here and in CI); null with the reason when the kernel refuses. */
function mountTmpfs(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
  }
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

describe('image archive on a full disk (8 MiB tmpfs)', () => {
  let dir: string;
  let archiveDir: string;
  let refused: string | null;
  let record: LineRecord | undefined;
  let faults: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ls-archive-space-'));
    archiveDir = join(dir, 'images');
    mkdirSync(archiveDir);
    refused = mountTmpfs(archiveDir);
    if (refused !== null) console.warn(`SKIPPED: mount -t tmpfs refused (needs root): ${refused}`);
  });
  afterEach(async () => {
    await record?.stop();
    record = undefined;
    if (refused === null) execFileSync('umount', [archiveDir]);
    await rm(dir, { recursive: true, force: true });
  });

  async function open(over: Partial<RecordConfig>): Promise<LineRecord> {
    faults = [];
    const config = recordSection.parse({ dir, sample_passes: 0, archive_queue: 100, ...over });
    const opened = new LineRecord({
      config,
      baseDir: dir,
      logger: memoryLogger().logger,
      runId: 'run1',
      onStorageFault: (message) => faults.push(message),
    });
    await opened.start(new AbortController().signal);
    record = opened;
    return opened;
  }

  it('deletes the oldest images to keep record.min_free_mb free, however many come', async (ctx) => {
    if (refused !== null) return ctx.skip();
    const rec = await open({ min_free_mb: 2 });
    const total = 1200; // about 12 MB of JPEGs: half again what the tmpfs holds
    let lowest = Infinity;
    for (let seq = 1; seq <= total; seq += 1) {
      rec.part(partRecord(seq, REJECT), { data: JPEGS[seq % JPEGS.length]!, source: 'cam' });
      if (seq % 50 === 0) {
        await rec.archiveIdle();
        lowest = Math.min(lowest, await freeBytes(archiveDir));
      }
    }
    await rec.archiveIdle();
    const archive = rec.state().archive;
    expect(archive).toMatchObject({ written: total, droppedNoSpace: 0, failed: 0 });
    expect(archive?.deletedForSpace).toBeGreaterThan(0);
    expect(lowest).toBeGreaterThanOrEqual(2 * MiB);
    // The oldest went first, the newest are there; the history no longer announces the deleted ones.
    expect(await rec.reader.image('run1-1')).toBeNull();
    expect((await rec.reader.image(`run1-${total}`))?.data.equals(JPEGS[total % JPEGS.length]!)).toBe(true);
    const withImage = rec.reader.history({ withImage: true });
    expect(withImage.length).toBe(total - (archive?.deletedForSpace ?? 0));
    const files = readdirSync(archiveDir, { recursive: true }).filter((f) => String(f).endsWith('.jpg'));
    expect(files.length).toBe(withImage.length);
    expect(rec.health()).toEqual({ healthy: true, reason: null });
  });

  it('drops an image that cannot fit, says so in the health and an alarm, and keeps recording parts', async (ctx) => {
    if (refused !== null) return ctx.skip();
    const rec = await open({ min_free_mb: 16 }); // more than the whole tmpfs
    for (let seq = 1; seq <= 3; seq += 1) {
      rec.part(partRecord(seq, REJECT), { data: JPEGS[0]!, source: 'cam' });
    }
    await rec.archiveIdle();
    expect(rec.state().archive).toMatchObject({ written: 0, droppedNoSpace: 3 });
    expect(rec.health().healthy).toBe(false);
    expect(rec.health().reason).toMatch(/floor record\.min_free_mb/);
    expect(faults.filter((m) => /min_free_mb/.test(m))).toHaveLength(1);
    expect(rec.reader.history({}).map((r) => [r.seq, r.imageRef])).toEqual([
      [3, undefined],
      [2, undefined],
      [1, undefined],
    ]);
  });
});
