import { setImmediate as nextTurn } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { RecordConfig } from '../config/sections/record.js';
import { errorMessage } from '../errors.js';
import type { ImageArchive } from './archive.js';
import type { StorageFaults } from './storage-faults.js';

const DAY_MS = 86_400_000;
/** Rows per DELETE: each batch is a short transaction, and the event loop gets a turn between batches. */
const PRUNE_BATCH = 200;

/**
 * Runs with no part left. Runs follow one another, so every run that started before the oldest remaining part's
 * run has none: found through the time index (a `NOT IN (SELECT run_id FROM parts)` would scan the whole history).
 */
const PRUNE_RUNS = `DELETE FROM runs WHERE started_ms < ? AND started_ms < COALESCE(
  (SELECT r.started_ms FROM parts p JOIN runs r ON r.run_id = p.run_id ORDER BY p.triggered_ms LIMIT 1), ?)`;

export interface MaintenanceDeps {
  db: Database.Database;
  config: RecordConfig;
  archive: ImageArchive;
  logger: Logger;
  faults: StorageFaults;
  /** Aggregates the completed hours off the event loop (Checkpointer.aggregate); returns the hours written. */
  aggregate: (nowMs: number) => Promise<number>;
  /** Wall clock (tests pass their own). */
  now?: () => number;
}

export interface MaintenanceResult {
  partsDeleted: number;
  imagesDeleted: number;
  hoursAggregated: number;
  hourlyDeleted: number;
}

/**
 * The record's housekeeping, every `record.maintenance_interval_ms`, off the per-part path: the hourly aggregates
 * of completed hours, pruning by age (history, images, aggregates) in small batches, and the free-space floor.
 */
export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<MaintenanceResult | null> | undefined;

  constructor(private readonly deps: MaintenanceDeps) {}

  start(): void {
    const every = this.deps.config.maintenance_interval_ms;
    this.timer = setInterval(() => void this.runOnce(), every);
    this.timer.unref();
    void this.runOnce();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run, after the one still going if any (never two at once). Never throws (a failure is a storage fault). */
  runOnce(): Promise<MaintenanceResult | null> {
    if (this.running) return this.running.then(() => this.runOnce());
    const run = this.work()
      .then((result) => {
        this.deps.faults.clear('maintenance');
        return result;
      })
      .catch((err: unknown) => {
        this.deps.faults.set('maintenance', `record maintenance failed: ${errorMessage(err)}`);
        return null;
      })
      .finally(() => (this.running = undefined));
    this.running = run;
    return run;
  }

  private async work(): Promise<MaintenanceResult> {
    const { db, config, archive } = this.deps;
    const now = (this.deps.now ?? Date.now)();
    const hoursAggregated = await this.deps.aggregate(now);
    const partsCutoff = now - config.retention_days * DAY_MS;
    const partsDeleted = await this.prune('parts', 'triggered_ms', partsCutoff);
    const hourlyDeleted = await this.prune('hourly', 'hour_ms', now - config.aggregate_retention_days * DAY_MS);
    db.prepare(PRUNE_RUNS).run(partsCutoff, partsCutoff);
    const imagesDeleted = await this.archiveWork(async () => {
      const deleted = await archive.pruneOlderThan(partsCutoff);
      await archive.keepFloor();
      return deleted;
    });
    const result = { partsDeleted, imagesDeleted, hoursAggregated, hourlyDeleted };
    if (partsDeleted + imagesDeleted + hourlyDeleted + hoursAggregated > 0)
      this.deps.logger.debug(result, 'record maintenance');
    return result;
  }

  /** The archive's share: its failure is the archive's fault (a broken images/), not the history's. */
  private async archiveWork(work: () => Promise<number>): Promise<number> {
    try {
      return await work();
    } catch (err) {
      this.deps.faults.set('archive', `image archive maintenance failed: ${errorMessage(err)}`);
      return 0;
    }
  }

  private async prune(table: 'parts' | 'hourly', column: string, cutoffMs: number): Promise<number> {
    const batch = this.deps.db.prepare(
      `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${column} < ? LIMIT ${PRUNE_BATCH})`,
    );
    let deleted = 0;
    for (;;) {
      const { changes } = batch.run(cutoffMs);
      deleted += changes;
      if (changes < PRUNE_BATCH) return deleted;
      await nextTurn();
    }
  }
}
