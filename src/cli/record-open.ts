import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { loadConfig } from '../config/load.js';
import { recordSection } from '../config/sections/record.js';
import { errorCode, errorMessage } from '../errors.js';
import { recordPaths } from '../record/index.js';
import { archivedImages, RecordReader } from '../record/reader.js';
import { EXIT, type CliIo } from './io.js';

export interface OpenedRecord {
  reader: RecordReader;
  db: Database.Database;
  file: string;
  close(): void;
}

const UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A time option: ISO 8601 (`2026-12-03T08:00`, `2026-12-03`), or an age such as `90m`, `12h`, `7d` (before now). */
export function parseTime(value: string, nowMs = Date.now()): string | null {
  const age = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value);
  if (age) return new Date(nowMs - Number(age[1]) * (UNITS_MS[age[2] ?? 's'] ?? 1000)).toISOString();
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * Opens the line record of a config (`record.dir`; without --config, the default `var` under the current
 * directory) for a CLI command. Read-only unless `write`: WAL lets these readers work beside the running daemon,
 * and a label (one UPDATE) waits at most 5 s for the daemon's write lock. Returns an exit status on failure,
 * after writing why to stderr.
 */
export function openRecord(configFile: string | undefined, io: CliIo, write = false): OpenedRecord | number {
  let config;
  let baseDir = '.';
  try {
    if (configFile === undefined) config = recordSection.parse({});
    else
      ({
        config: { record: config },
        baseDir,
      } = loadConfig(configFile));
  } catch (err) {
    io.stderr.write(`${errorCode(err)}: ${errorMessage(err)}\n`);
    return EXIT.CONFIG;
  }
  const { file, archiveDir } = recordPaths(config, baseDir);
  if (!existsSync(file)) {
    io.stderr.write(`LS_RECORD_IO: no line record at ${file} (has the daemon run with this config?)\n`);
    return EXIT.FAILURE;
  }
  try {
    const db = new Database(file, { readonly: !write, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return { reader: new RecordReader(db, archivedImages(db, archiveDir)), db, file, close: () => db.close() };
  } catch (err) {
    io.stderr.write(`LS_RECORD_IO: cannot open ${file}: ${errorMessage(err)}\n`);
    return EXIT.FAILURE;
  }
}
