import { closeSync, copyFileSync, existsSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../integration/harness.js';
import { waitFor } from '../../wait.js';
import { RecordDatabase, type Migration } from '../../../src/record/database.js';
import { LineRecord } from '../../../src/record/index.js';
import { recordMigrations } from '../../../src/record/migrations.js';
import { recordSection } from '../../../src/config/sections/record.js';

const things: Migration[] = [{ name: 'test-0001-things', sql: 'CREATE TABLE things (id INTEGER PRIMARY KEY, v TEXT)' }];

describe('RecordDatabase', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ls-record-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the file in WAL mode and applies each migration once, across reopenings', () => {
    const { logger } = memoryLogger();
    const file = join(dir, 'state', 'lineside.db');
    const first = RecordDatabase.open({ file, logger, migrations: things });
    first.db.prepare('INSERT INTO things (v) VALUES (?)').run('kept');
    expect(first.db.pragma('journal_mode', { simple: true })).toBe('wal');
    first.close();
    const more: Migration[] = [...things, { name: 'test-0002-more', sql: 'ALTER TABLE things ADD COLUMN w TEXT' }];
    const second = RecordDatabase.open({ file, logger, migrations: more });
    expect(second.appliedMigrations()).toEqual(['test-0001-things', 'test-0002-more']);
    expect(second.db.prepare('SELECT v FROM things').all()).toEqual([{ v: 'kept' }]);
    expect(second.movedAside).toBeNull();
    second.close();
  });

  it('moves a file that is not a database aside, says so, and starts a fresh one', () => {
    const { logger, records } = memoryLogger();
    const file = join(dir, 'lineside.db');
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const db = RecordDatabase.open({ file, logger, migrations: things });
    expect(db.movedAside).toMatch(/lineside\.db\.corrupt-/);
    expect(existsSync(db.movedAside ?? '')).toBe(true);
    expect(db.appliedMigrations()).toEqual(['test-0001-things']);
    expect(records().some((r) => r.code === 'LS_RECORD_CORRUPT' && r.moved_to === db.movedAside)).toBe(true);
    db.close();
  });

  it('moves aside a database whose pages are damaged', () => {
    const { logger } = memoryLogger();
    const file = join(dir, 'lineside.db');
    const seed = new Database(file);
    seed.exec('CREATE TABLE big (x TEXT)');
    const insert = seed.prepare('INSERT INTO big VALUES (?)');
    seed.transaction(() => {
      for (let i = 0; i < 2000; i += 1) insert.run('x'.repeat(200));
    })();
    seed.close();
    // Overwrite the middle of the file (b-tree pages), keeping the header: it still opens, the check fails.
    const bytes = Buffer.alloc(64 * 1024, 0xff);
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, bytes.length, 8192);
    closeSync(fd);
    const db = RecordDatabase.open({ file, logger, migrations: things });
    expect(db.movedAside).not.toBeNull();
    db.close();
  });

  it('throws LS_RECORD_IO when the directory cannot be made at all', () => {
    const { logger } = memoryLogger();
    // A regular file where the state directory should be: mkdir fails even for root (CI runs as root).
    writeFileSync(join(dir, 'blocker'), 'not a directory');
    expect(() =>
      RecordDatabase.open({ file: join(dir, 'blocker', 'lineside.db'), logger, migrations: things }),
    ).toThrow(expect.objectContaining({ code: 'LS_RECORD_IO' }));
  });

  it('rejects a migration listed twice', () => {
    expect(() => recordMigrations([things, things])).toThrow(/listed twice/);
  });
});

describe('LineRecord', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ls-linerecord-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('checkpoints the WAL into the database file from its own thread, and once more at stop', async () => {
    const { logger } = memoryLogger();
    const config = recordSection.parse({ dir: 'state', sync_interval_ms: 100 });
    const record = new LineRecord({ config, baseDir: dir, logger, migrations: [things] });
    await record.start(new AbortController().signal);
    const insert = record.database.db.prepare('INSERT INTO things (v) VALUES (?)');
    for (let i = 0; i < 100; i += 1) insert.run(`row ${i}`);
    await waitFor(() => record.state().checkpoints.runs >= 2, 20_000, 'two checkpoints');
    expect(record.state().checkpoints.failures).toBe(0);
    expect(record.state().checkpoints.lastSyncedAt).not.toBeNull();
    await record.stop();
    // After the final checkpoint the rows are in the main file: readable with the WAL gone.
    const files = readdirSync(join(dir, 'state'));
    expect(files).toContain('lineside.db');
    const copy = join(dir, 'copy.db');
    copyFileSync(join(dir, 'state', 'lineside.db'), copy);
    const check = new Database(copy, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM things').get()).toEqual({ n: 100 });
    check.close();
  });
});
