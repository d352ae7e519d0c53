import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { RecordConfig } from '../config/sections/record.js';
import type { CapturedImage, Lifecycle, ModelInfo } from '../domain/ports.js';
import type { HistoryQuery, HistoryRow, LineRecordReader, LineRecordView } from '../domain/record.js';
import type { Label, PartRecord } from '../domain/part.js';
import { errorMessage } from '../errors.js';
import { ArchivePolicy, imageRef } from './archive-policy.js';
import { ImageArchive, type ArchiveStats } from './archive.js';
import { Checkpointer, type CheckpointStats } from './checkpointer.js';
import { RecordDatabase, type Migration } from './database.js';
import { historyMigrations } from './history-schema.js';
import { HistoryWriter } from './history.js';
import { Maintenance } from './maintenance.js';
import { coreMigrations, recordMigrations } from './migrations.js';
import { archivedImages, RecordReader } from './reader.js';
import { StorageFaults, type RecordHealth, type StorageFaultKind } from './storage-faults.js';

export { RecordDatabase, type Migration } from './database.js';
export type { RecordHealth } from './storage-faults.js';

export interface LineRecordDeps {
  config: RecordConfig;
  /** Directory a relative `record.dir` is resolved against (the config file's directory). */
  baseDir: string;
  logger: Logger;
  /** Migrations of the areas that live in the database besides the core (outbox, history...), in order. */
  migrations?: readonly (readonly Migration[])[];
  /** The run this daemon is, and the model it inspects with (recorded once, in the runs table). */
  runId?: string;
  model?: () => ModelInfo | undefined;
  /** A storage fault began (full or failing disk): the app raises the 'storage' alarm. */
  onStorageFault?: (message: string) => void;
}

export interface LineRecordState {
  file: string;
  /** Where an unusable database was moved at start, or null. */
  movedAside: string | null;
  checkpoints: CheckpointStats;
  archive: ArchiveStats | null;
  failures: Record<StorageFaultKind, number>;
}

/** The state directory's record.dir resolved, the database file and the image archive's root. */
export function recordPaths(config: RecordConfig, baseDir: string): { dir: string; file: string; archiveDir: string } {
  const dir = isAbsolute(config.dir) ? config.dir : resolve(baseDir, config.dir);
  return { dir, file: join(dir, 'lineside.db'), archiveDir: join(dir, 'images') };
}

const ARCHIVE_STOP_LIMIT_MS = 5000;

interface Open {
  database: RecordDatabase;
  history: HistoryWriter;
  archive: ImageArchive;
  maintenance: Maintenance;
  reader: RecordReader;
}

/** The state directory's one database (docs/record.md): opened first, closed last, synced off the event loop. */
export class LineRecord implements Lifecycle, LineRecordView {
  readonly dir: string;
  readonly file: string;
  readonly archiveDir: string;
  private opened: Open | undefined;
  private checkpointer: Checkpointer | undefined;
  private readonly faults: StorageFaults;
  private readonly policy: ArchivePolicy;

  constructor(private readonly deps: LineRecordDeps) {
    ({ dir: this.dir, file: this.file, archiveDir: this.archiveDir } = recordPaths(deps.config, deps.baseDir));
    this.faults = new StorageFaults(deps.logger, (message) => deps.onStorageFault?.(message));
    this.policy = new ArchivePolicy(deps.config);
  }

  /** The open database; throws before start. */
  get database(): RecordDatabase {
    return this.require().database;
  }

  /** History, archived images and labels (LineRecordReader); throws before start. */
  get reader(): LineRecordReader {
    return this.require().reader;
  }

  start(_signal: AbortSignal): Promise<void> {
    const { logger, config } = this.deps;
    const migrations = recordMigrations([coreMigrations, historyMigrations, ...(this.deps.migrations ?? [])]);
    const database = RecordDatabase.open({ file: this.file, logger, migrations });
    const { db } = database;
    const history = new HistoryWriter(db);
    const archive = new ImageArchive({
      dir: this.archiveDir,
      db,
      minFreeBytes: config.min_free_mb * 2 ** 20,
      queueLimit: config.archive_queue,
      logger,
      faults: this.faults,
      gone: (ids) => ids.forEach((id) => history.imageGone(id)),
    });
    const checkpointer = new Checkpointer({ file: this.file, intervalMs: config.sync_interval_ms, logger });
    this.checkpointer = checkpointer;
    const aggregate = (nowMs: number): Promise<number> => checkpointer.aggregate(nowMs);
    const maintenance = new Maintenance({ db, config, archive, logger, faults: this.faults, aggregate });
    const reader = new RecordReader(db, archivedImages(db, this.archiveDir));
    this.opened = { database, history, archive, maintenance, reader };
    if (this.deps.runId !== undefined) history.run(this.deps.runId, Date.now(), this.deps.model?.());
    checkpointer.start();
    maintenance.start();
    logger.info({ file: this.file, sync_interval_ms: config.sync_interval_ms }, 'line record open');
    return Promise.resolve();
  }

  /**
   * A completed part, on the event loop, before its verdict is published: decides whether its image is kept, sets
   * record.imageRef and queues the write (never waits), then inserts its history row (one prepared INSERT, no
   * fsync). Never throws: a failure is a storage fault (alarm, health), and inspection goes on.
   */
  part(record: PartRecord, image: CapturedImage | undefined): void {
    const open = this.opened;
    if (!open) return;
    const why = image === undefined ? null : this.policy.keep(record);
    if (image !== undefined && why !== null) {
      const ref = imageRef(record, image.data);
      const job = { partId: record.id, ref, data: image.data, why, keptMs: Date.parse(record.triggeredAt) };
      if (open.archive.offer(job)) record.imageRef = ref;
    }
    try {
      open.history.insert(record);
      this.faults.clear('history');
    } catch (err) {
      this.faults.set('history', `verdict history write failed: ${errorMessage(err)}`);
    }
  }

  history(query: HistoryQuery): HistoryRow[] {
    return this.reader.history(query);
  }

  image(partId: string): ReturnType<LineRecordReader['image']> {
    return this.reader.image(partId);
  }

  label(partId: string, label: Label, by: string): HistoryRow {
    return this.reader.label(partId, label, by);
  }

  /** Storage health for /healthz: unhealthy while a write fails or the free-space floor cannot be kept. */
  health(): RecordHealth {
    return this.faults.health();
  }

  /** Runs the housekeeping now (tests, and the CLI after an export). */
  maintain(): Promise<unknown> {
    return this.require().maintenance.runOnce();
  }

  /** Resolves when the images queued so far are written. */
  archiveIdle(): Promise<void> {
    return this.opened?.archive.idle() ?? Promise.resolve();
  }

  state(): LineRecordState {
    return {
      file: this.file,
      movedAside: this.opened?.database.movedAside ?? null,
      checkpoints: this.checkpointer?.state() ?? { runs: 0, failures: 0, lastSyncedAt: null, lastMs: null },
      archive: this.opened?.archive.state() ?? null,
      failures: this.faults.failures(),
    };
  }

  async stop(): Promise<void> {
    const open = this.opened;
    await open?.maintenance.stop();
    // Queued images get a bounded time to land: a hung disk must not hold the daemon's stop.
    const limit = new Promise<void>((done) => setTimeout(done, ARCHIVE_STOP_LIMIT_MS).unref());
    await Promise.race([open?.archive.idle(), limit]);
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    open?.database.close();
  }

  private require(): Open {
    if (!this.opened) throw new Error('the line record is opened by its stage, which has not run');
    return this.opened;
  }
}
