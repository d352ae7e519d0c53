import { mkdir, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { KeepReason } from './archive-policy.js';
import type { StorageFaults } from './storage-faults.js';

export interface ImageArchiveDeps {
  /** The archive's root: `<record.dir>/images`. */
  dir: string;
  db: Database.Database;
  minFreeBytes: number;
  queueLimit: number;
  logger: Logger;
  faults: StorageFaults;
  /** An image announced for a part (PartRecord.imageRef) that is not kept after all, or no longer. */
  gone: (partIds: readonly string[]) => void;
  /** Free bytes for unprivileged users on the archive's file system (tests pass their own). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface ArchiveStats {
  written: number;
  bytesWritten: number;
  /** Dropped because `record.archive_queue` images were already waiting. */
  droppedQueueFull: number;
  /** Dropped because the free-space floor could not be kept even with every older image deleted. */
  droppedNoSpace: number;
  failed: number;
  deletedForAge: number;
  deletedForSpace: number;
  queued: number;
}

export interface ArchiveJob {
  partId: string;
  ref: string;
  data: Buffer;
  why: KeepReason;
  /** The part's trigger time (wall clock): images age with their parts. */
  keptMs: number;
}

const DELETE_BATCH = 64;
const BLOCK_BYTES = 4096;

/** The oldest rows whose sizes add up to the shortfall (at least one): no more is deleted than needed. */
function enoughFor<R extends { bytes: number }>(rows: readonly R[], shortfall: number): R[] {
  let sum = 0;
  const out: R[] = [];
  for (const row of rows) {
    out.push(row);
    sum += row.bytes;
    if (sum >= shortfall) break;
  }
  return out;
}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * The image archive: the camera's bytes as they came, written off the gate path by one writer at a time (a bounded
 * queue; a full queue drops and counts, it never blocks), indexed in the `images` table. Before each write the
 * oldest images are deleted until the file system keeps `record.min_free_mb` free after it; an image that cannot
 * fit even then is dropped, and the 'space' storage fault says so.
 */
export class ImageArchive {
  private tail: Promise<void> = Promise.resolve();
  private readonly stats: ArchiveStats = {
    written: 0,
    bytesWritten: 0,
    droppedQueueFull: 0,
    droppedNoSpace: 0,
    failed: 0,
    deletedForAge: 0,
    deletedForSpace: 0,
    queued: 0,
  };
  private readonly index: {
    insert: Database.Statement;
    oldest: Database.Statement;
    olderThan: Database.Statement;
    remove: Database.Statement;
  };

  constructor(private readonly deps: ImageArchiveDeps) {
    const { db } = deps;
    this.index = {
      insert: db.prepare('INSERT OR REPLACE INTO images (part_id, ref, bytes, kept_ms, why) VALUES (?, ?, ?, ?, ?)'),
      oldest: db.prepare('SELECT part_id, ref, bytes FROM images ORDER BY kept_ms LIMIT ?'),
      olderThan: db.prepare('SELECT part_id, ref FROM images WHERE kept_ms < ? ORDER BY kept_ms LIMIT ?'),
      remove: db.prepare('DELETE FROM images WHERE part_id = ?'),
    };
  }

  /** Queues an image; false (dropped, counted) when the queue is full. Never waits. */
  offer(job: ArchiveJob): boolean {
    if (this.stats.queued >= this.deps.queueLimit) {
      this.stats.droppedQueueFull += 1;
      return false;
    }
    this.stats.queued += 1;
    void this.serial(() => this.write(job)).finally(() => (this.stats.queued -= 1));
    return true;
  }

  state(): ArchiveStats {
    return { ...this.stats };
  }

  /** Resolves when every image queued so far is written (or dropped). */
  idle(): Promise<void> {
    return this.serial(() => Promise.resolve());
  }

  path(ref: string): string {
    return join(this.deps.dir, ref);
  }

  /** Deletes images kept before `cutoffMs` (wall clock), in batches; returns how many. */
  pruneOlderThan(cutoffMs: number): Promise<number> {
    return this.serial(async () => {
      let deleted = 0;
      for (;;) {
        const rows = this.index.olderThan.all(cutoffMs, DELETE_BATCH) as { part_id: string; ref: string }[];
        await this.delete(rows);
        deleted += rows.length;
        if (rows.length < DELETE_BATCH) break;
      }
      this.stats.deletedForAge += deleted;
      return deleted;
    });
  }

  /** Deletes the oldest images until `bytes` more would leave the floor free; false when that is impossible. */
  keepFloor(bytes = 0): Promise<boolean> {
    return this.serial(() => this.makeRoom(bytes));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async write(job: ArchiveJob): Promise<void> {
    const { faults, logger } = this.deps;
    const file = this.path(job.ref);
    try {
      if (!(await this.makeRoom(job.data.length))) {
        this.stats.droppedNoSpace += 1;
        this.deps.gone([job.partId]);
        return;
      }
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, job.data);
      this.index.insert.run(job.partId, job.ref, job.data.length, job.keptMs, job.why);
      this.stats.written += 1;
      this.stats.bytesWritten += job.data.length;
      faults.clear('archive');
    } catch (err) {
      this.stats.failed += 1;
      await unlink(file).catch(() => undefined);
      faults.set('archive', `image archive write failed: ${errorMessage(err)}`);
      logger.debug({ part: job.partId, err: errorMessage(err) }, 'image not archived');
      try {
        this.deps.gone([job.partId]);
      } catch {
        // The database is failing too: the history fault says so.
      }
    }
  }

  private async makeRoom(bytes: number): Promise<boolean> {
    const freeBytes = this.deps.freeBytes ?? statfsFree;
    const floor = this.deps.minFreeBytes;
    await mkdir(this.deps.dir, { recursive: true });
    // What the file takes on disk: whole blocks, and one more for its directory entry and inode.
    const need = bytes === 0 ? 0 : (Math.ceil(bytes / BLOCK_BYTES) + 1) * BLOCK_BYTES;
    for (;;) {
      const free = await freeBytes(this.deps.dir);
      if (free - need >= floor) {
        this.deps.faults.clear('space');
        return true;
      }
      const rows = this.index.oldest.all(DELETE_BATCH) as { part_id: string; ref: string; bytes: number }[];
      if (rows.length === 0) {
        const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
        this.deps.faults.set('space', `${mb(free)} MiB free, floor record.min_free_mb ${mb(floor)} MiB, no image left`);
        return false;
      }
      const victims = enoughFor(rows, floor + need - free);
      await this.delete(victims);
      this.stats.deletedForSpace += victims.length;
    }
  }

  private async delete(rows: readonly { part_id: string; ref: string }[]): Promise<void> {
    for (const row of rows) {
      await unlink(this.path(row.ref)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.index.remove.run(row.part_id);
    }
    if (rows.length > 0) this.deps.gone(rows.map((r) => r.part_id));
  }
}
