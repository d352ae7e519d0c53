import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { errorMessage, LinesideError } from '../errors.js';

/** One schema step, applied once, in list order, inside the transaction that records it by name. */
export interface Migration {
  /** Never renamed once shipped: it is the key in the schema_migrations table. */
  name: string;
  sql: string;
}

export interface RecordDatabaseOptions {
  file: string;
  logger: Logger;
  /** Every area's migrations, in the order they must run (src/record/migrations.ts). */
  migrations: readonly Migration[];
}

/** SQLite result codes that mean the file is not a usable database: it is moved aside, never repaired in place. */
const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CANTOPEN_ISDIR']);

const SIDE_FILES = ['', '-wal', '-shm'] as const;

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

class CorruptDatabase extends Error {}

/**
 * The line record's one database file (WAL). Commits write to the WAL without an fsync (synchronous=NORMAL), so a
 * process crash loses nothing committed: the WAL is in the kernel's page cache. The checkpointer thread
 * (checkpointer.ts) syncs it every `record.sync_interval_ms`; a power cut may lose the commits since its last run.
 * Automatic checkpoints are off on this connection, so no commit on the event loop ever waits for an fsync.
 */
export class RecordDatabase {
  /** Where a corrupt or unreadable file was moved at open, or null when the file opened as it was. */
  readonly movedAside: string | null;

  private constructor(
    readonly db: Database.Database,
    readonly file: string,
    movedAside: string | null,
  ) {
    this.movedAside = movedAside;
  }

  /**
   * Opens (or creates) the database and applies pending migrations. A file that is not a database, fails its
   * quick check or cannot be migrated is moved aside as `<file>.corrupt-<time>` with an error line, and a fresh one
   * is started: the line keeps inspecting. Throws LinesideError LS_RECORD_IO when not even a fresh file can be made.
   */
  static open(options: RecordDatabaseOptions): RecordDatabase {
    const { file, logger } = options;
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw new LinesideError('LS_RECORD_IO', `record: cannot create ${dirname(file)}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    try {
      return new RecordDatabase(openChecked(options), file, null);
    } catch (err) {
      if (!(err instanceof CorruptDatabase) && !CORRUPT_CODES.has(sqliteCode(err) ?? '')) {
        throw new LinesideError('LS_RECORD_IO', `record: cannot open ${file}: ${errorMessage(err)}`, { cause: err });
      }
      const aside = moveAside(file);
      const fields = { code: 'LS_RECORD_CORRUPT', file, moved_to: aside, err: errorMessage(err) };
      logger.error(fields, 'record database unusable: moved aside, starting a fresh one (inspection goes on)');
      try {
        return new RecordDatabase(openChecked(options), file, aside);
      } catch (again) {
        const message = `record: cannot start a fresh ${file}: ${errorMessage(again)}`;
        throw new LinesideError('LS_RECORD_IO', message, { cause: again });
      }
    }
  }

  /** Names of the migrations applied, in order. */
  appliedMigrations(): string[] {
    const rows = this.db.prepare('SELECT name FROM schema_migrations ORDER BY rowid').all() as { name: string }[];
    return rows.map((r) => r.name);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function openChecked(options: RecordDatabaseOptions): Database.Database {
  const db = new Database(options.file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('journal_size_limit = 67108864');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CorruptDatabase(`quick_check: ${String(check)}`);
    migrate(db, options.migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  const applied = new Set(
    (db.prepare('SELECT name FROM schema_migrations').all() as { name: string }[]).map((r) => r.name),
  );
  const record = db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)');
  for (const migration of migrations) {
    if (applied.has(migration.name)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.name, new Date().toISOString());
    })();
  }
}

/** Renames the database and its WAL and shared-memory files; returns the new name of the main file. */
function moveAside(file: string): string {
  const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of SIDE_FILES) {
    if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
  }
  return aside;
}
