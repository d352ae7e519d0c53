import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { RecordConfig } from '../config/sections/record.js';
import type { Lifecycle } from '../domain/ports.js';
import { Checkpointer, type CheckpointStats } from './checkpointer.js';
import { RecordDatabase, type Migration } from './database.js';
import { coreMigrations, recordMigrations } from './migrations.js';

export { RecordDatabase, type Migration } from './database.js';

export interface LineRecordDeps {
  config: RecordConfig;
  /** Directory a relative `record.dir` is resolved against (the config file's directory). */
  baseDir: string;
  logger: Logger;
  /** Migrations of the areas that live in the database besides the core (outbox, history...), in order. */
  migrations?: readonly (readonly Migration[])[];
}

export interface LineRecordState {
  file: string;
  /** Where an unusable database was moved at start, or null. */
  movedAside: string | null;
  checkpoints: CheckpointStats;
}

/** The state directory's one database (docs/record.md): opened first, closed last, synced off the event loop. */
export class LineRecord implements Lifecycle {
  readonly dir: string;
  readonly file: string;
  private opened: RecordDatabase | undefined;
  private checkpointer: Checkpointer | undefined;

  constructor(private readonly deps: LineRecordDeps) {
    const { config, baseDir } = deps;
    this.dir = isAbsolute(config.dir) ? config.dir : resolve(baseDir, config.dir);
    this.file = join(this.dir, 'lineside.db');
  }

  /** The open database; throws before start. */
  get database(): RecordDatabase {
    if (!this.opened) throw new Error('the line record is opened by its stage, which has not run');
    return this.opened;
  }

  start(_signal: AbortSignal): Promise<void> {
    const { logger, config } = this.deps;
    const migrations = recordMigrations([coreMigrations, ...(this.deps.migrations ?? [])]);
    this.opened = RecordDatabase.open({ file: this.file, logger, migrations });
    this.checkpointer = new Checkpointer({ file: this.file, intervalMs: config.sync_interval_ms, logger });
    this.checkpointer.start();
    logger.info({ file: this.file, sync_interval_ms: config.sync_interval_ms }, 'line record open');
    return Promise.resolve();
  }

  state(): LineRecordState {
    return {
      file: this.file,
      movedAside: this.opened?.movedAside ?? null,
      checkpoints: this.checkpointer?.state() ?? { runs: 0, failures: 0, lastSyncedAt: null, lastMs: null },
    };
  }

  async stop(): Promise<void> {
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.opened?.close();
  }
}
