import type { Database, Statement } from 'better-sqlite3';
import type { Migration, RecordDatabase } from '../../record/database.js';
import type { OutboxEntry } from './outbox-queue.js';

/** The outbox's schema steps in the line record (src/record/migrations.ts): append, never edit a shipped one. */
export const outboxMigrations: readonly Migration[] = [
  {
    name: '0001-outbox-messages',
    // n is assigned by the outbox (in enqueue order) and never reused while the process runs; rows are deleted
    // when the broker acknowledges them, so the table holds only what is not yet acknowledged.
    sql: `CREATE TABLE outbox (
      n INTEGER PRIMARY KEY,
      topic TEXT NOT NULL,
      payload TEXT NOT NULL,
      retain INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    )`,
  },
];

/** Inclusive range of entry numbers to delete (acknowledged, refused or dropped). */
export type Range = [from: number, to: number];

interface Row {
  n: number;
  topic: string;
  payload: string;
  retain: number;
  bytes: number;
}

function toEntry(row: Row): OutboxEntry {
  return { n: row.n, topic: row.topic, payload: row.payload, retain: row.retain !== 0, bytes: row.bytes };
}

/** SQLite result codes that mean the file system has no room: the outbox then drops its oldest unsent rows. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || (typeof code === 'string' && code.startsWith('SQLITE_FULL'));
}

/**
 * The outbox's table in the line record. Each call is one small statement or transaction on the record's one
 * connection: it writes to the WAL in the page cache (no fsync on the event loop; the record's checkpointer syncs),
 * so it is durable against a process crash when it returns. Every method throws the SQLite error as it comes.
 */
export class OutboxStore {
  private readonly db: Database;
  private readonly insertRow: Statement<[number, string, string, number, number]>;
  private readonly deleteRange: Statement<[number, number]>;
  private readonly readAfter: Statement<[number, number], Row>;
  private readonly sizesAfter: Statement<[number], { n: number; bytes: number }>;

  constructor(database: RecordDatabase) {
    this.db = database.db;
    this.insertRow = this.db.prepare('INSERT INTO outbox (n, topic, payload, retain, bytes) VALUES (?, ?, ?, ?, ?)');
    this.deleteRange = this.db.prepare('DELETE FROM outbox WHERE n BETWEEN ? AND ?');
    this.readAfter = this.db.prepare(
      'SELECT n, topic, payload, retain, bytes FROM outbox WHERE n > ? ORDER BY n LIMIT ?',
    );
    this.sizesAfter = this.db.prepare('SELECT n, bytes FROM outbox WHERE n > ? ORDER BY n');
  }

  /** What earlier runs left: rows, their bytes and the highest number (new entries are numbered after it). */
  totals(): { count: number; bytes: number; maxN: number } {
    const row = this.db
      .prepare('SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes, COALESCE(MAX(n), 0) AS maxN FROM outbox')
      .get() as { count: number; bytes: number; maxN: number };
    return row;
  }

  insert(entry: OutboxEntry): void {
    this.insertRow.run(entry.n, entry.topic, entry.payload, entry.retain ? 1 : 0, entry.bytes);
  }

  /** One transaction: all of them or none. */
  insertAll(entries: readonly OutboxEntry[]): void {
    this.db.transaction(() => {
      for (const entry of entries) this.insert(entry);
    })();
  }

  /** One transaction for every range. */
  deleteAll(ranges: readonly Range[]): void {
    this.db.transaction(() => {
      for (const [from, to] of ranges) this.deleteRange.run(from, to);
    })();
  }

  /** Up to `limit` entries numbered above `n`, in order. */
  after(n: number, limit: number): OutboxEntry[] {
    return this.readAfter.all(n, limit).map(toEntry);
  }

  /** The oldest entries numbered above `n` that add up to `bytes` (or all there are), read by size alone. */
  oldestAfter(n: number, bytes: number): { count: number; bytes: number; lastN: number } {
    const found = { count: 0, bytes: 0, lastN: n };
    for (const row of this.sizesAfter.iterate(n)) {
      if (found.bytes >= bytes) break;
      found.count++;
      found.bytes += row.bytes;
      found.lastN = row.n;
    }
    return found;
  }

  metaGet(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  /** Inserts entries and records a meta fact in one transaction (a migration that must happen exactly once). */
  importOnce(entries: readonly OutboxEntry[], key: string, value: string): void {
    this.db.transaction(() => {
      for (const entry of entries) this.insert(entry);
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
    })();
  }
}
