import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox as SegmentOutbox } from '../../../../benchmarks/legacy/outbox.js';
import { Outbox, type OutboxDeps, type OutboxEntry } from '../../../../src/io/mqtt/outbox.js';
import type { RecordDatabase } from '../../../../src/record/database.js';
import { waitFor } from '../../../wait.js';
import { captureLogger, openRecordDatabase, silentLogger, tempDir } from './helpers.js';

const signal = new AbortController().signal;

function drain(outbox: Outbox): OutboxEntry[] {
  const entries: OutboxEntry[] = [];
  for (let entry = outbox.takeNext(); entry; entry = outbox.takeNext()) entries.push(entry);
  return entries;
}

const seqOf = (e: OutboxEntry): number => (JSON.parse(e.payload) as { seq: number }).seq;

function message(i: number): { topic: string; payload: string; retain: boolean } {
  return { topic: 'lineside/t/verdict', payload: JSON.stringify({ seq: i, pad: 'x'.repeat(50) }), retain: false };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Outbox in the line record (SQLite)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let databases: RecordDatabase[];
  beforeEach(async () => {
    dir = await tempDir('outbox');
    databases = [];
  });
  afterEach(async () => {
    for (const db of databases) db.close();
    await dir.remove();
  });

  const file = (): string => join(dir.path, 'lineside.db');
  /** Opens the database again, as a restarted daemon does (the earlier handle is closed first). */
  function database(): RecordDatabase {
    for (const db of databases.splice(0)) db.close();
    const db = openRecordDatabase(file());
    databases.push(db);
    return db;
  }
  const make = (overrides: Partial<OutboxDeps> = {}): Outbox =>
    new Outbox({ database: database(), maxBytes: 10 * 1024 * 1024, logger: silentLogger(), ...overrides });

  it('keeps unacknowledged entries across a restart, in order, and does not send acknowledged ones again', async () => {
    const first = make();
    await first.start(signal);
    for (let i = 1; i <= 30; i++) first.enqueue(message(i));
    for (const entry of drain(first).slice(0, 6)) first.ack(entry.n);
    await first.stop();

    const second = make();
    await second.start(signal);
    expect(second.stats().pending).toBe(24);
    const entries = drain(second);
    expect(entries.map(seqOf)).toEqual(range(7, 30));
    expect(entries.every((e) => e.topic === 'lineside/t/verdict' && !e.retain)).toBe(true);
    await second.stop();
  });

  it('enqueue has stored the message when it returns: another connection reads it at once (a crash loses nothing)', async () => {
    const outbox = make();
    await outbox.start(signal);
    outbox.enqueue(message(1));
    // No flush, no turn of the event loop: what a SIGKILL right now would leave behind.
    const other = new Database(file(), { readonly: true });
    const rows = other.prepare('SELECT payload FROM outbox').all() as { payload: string }[];
    other.close();
    expect(rows.map((r) => (JSON.parse(r.payload) as { seq: number }).seq)).toEqual([1]);
    await outbox.stop();
  });

  it('acknowledged rows are deleted within a turn, in one batch', async () => {
    const outbox = make();
    await outbox.start(signal);
    for (let i = 1; i <= 10; i++) outbox.enqueue(message(i));
    for (const entry of drain(outbox)) outbox.ack(entry.n);
    await new Promise((resolve) => setImmediate(resolve));
    const count = databases[0]!.db.prepare('SELECT COUNT(*) AS c FROM outbox').get() as { c: number };
    expect(count.c).toBe(0);
    expect(outbox.stats()).toMatchObject({ pending: 0, acked: 10, pendingBytes: 0 });
    await outbox.stop();
  });

  it('memory holds the in-flight window and one page, however long the backlog; everything comes out in order', async () => {
    const outbox = make({ maxBytes: 512 * 1024 * 1024 });
    await outbox.start(signal);
    const total = 5000;
    for (let i = 1; i <= total; i++) outbox.enqueue(message(i));
    expect(outbox.stats().heldEntries).toBeLessThanOrEqual(64);
    const seen: number[] = [];
    const window: OutboxEntry[] = [];
    for (;;) {
      while (window.length < 16) {
        const entry = outbox.takeNext();
        if (!entry) break;
        window.push(entry);
      }
      if (window.length === 0) break;
      expect(outbox.stats().heldEntries).toBeLessThanOrEqual(64 + 16);
      const done = window.shift()!;
      seen.push(seqOf(done));
      outbox.ack(done.n);
    }
    expect(seen).toEqual(range(1, total));
    await outbox.stop();
  });

  it('drops the oldest unsent entries past the budget, counts them and logs LS_MQTT_OUTBOX_FULL once', async () => {
    const { logger, records } = captureLogger();
    const outbox = make({ maxBytes: 4096, logger });
    await outbox.start(signal);
    for (let i = 1; i <= 200; i++) outbox.enqueue(message(i));
    const stats = outbox.stats();
    expect(stats.pendingBytes).toBeLessThanOrEqual(4096);
    expect(stats.dropped).toBe(200 - stats.pending);
    const kept = drain(outbox).map(seqOf);
    expect(kept).toEqual(range(200 - stats.pending + 1, 200));
    const full = records().filter((r) => r.code === 'LS_MQTT_OUTBOX_FULL');
    expect(full).toHaveLength(1);
    expect(full[0]).toMatchObject({ level: 50, reason: 'budget' });
    await outbox.stop();
    // The dropped rows are gone from the database too: a restart sends only the survivors.
    const again = make({ maxBytes: 4096 });
    await again.start(signal);
    expect(drain(again).map(seqOf)).toEqual(kept);
    await again.stop();
  });

  it('enforces the budget on what an earlier run left behind', async () => {
    const first = make();
    await first.start(signal);
    for (let i = 1; i <= 100; i++) first.enqueue(message(i));
    await first.stop();
    const second = make({ maxBytes: 2048 });
    await second.start(signal);
    expect(second.stats().pendingBytes).toBeLessThanOrEqual(2048);
    expect(drain(second).map(seqOf).at(-1)).toBe(100);
    await second.stop();
  });

  it('never drops what is in flight; a released entry is the next one handed out', async () => {
    const outbox = make({ maxBytes: 2048 });
    await outbox.start(signal);
    for (let i = 1; i <= 5; i++) outbox.enqueue(message(i));
    const [a, b, c] = [outbox.takeNext()!, outbox.takeNext()!, outbox.takeNext()!];
    outbox.ack(a.n);
    outbox.release(b.n);
    expect(outbox.takeNext()?.n).toBe(b.n);
    for (let i = 6; i <= 500; i++) outbox.enqueue(message(i));
    expect(outbox.stats().inFlight).toBe(2);
    outbox.ack(b.n);
    outbox.ack(c.n);
    expect(drain(outbox).map(seqOf).at(-1)).toBe(500);
    await outbox.stop();
  });

  it('a full disk (SQLITE_FULL): the oldest unsent rows are dropped and counted, new ones stored; no stuck state', async () => {
    const { logger, records } = captureLogger();
    const outbox = make({ logger, retryDelayMs: 20 });
    await outbox.start(signal);
    // SQLite's own cap on the file size stands in for the file system: the same SQLITE_FULL, deterministically.
    databases[0]!.db.pragma('max_page_count = 40');
    const total = 3000;
    for (let i = 1; i <= total; i++) outbox.enqueue(message(i));
    const stats = outbox.stats();
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.pending + stats.dropped).toBe(total);
    expect(records().find((r) => r.code === 'LS_MQTT_OUTBOX_FULL')).toMatchObject({ reason: 'disk_full' });
    // What is kept is the newest, in order, with no gap at the end.
    const kept = drain(outbox).map(seqOf);
    expect(kept.at(-1)).toBe(total);
    expect(kept).toEqual(range(total - kept.length + 1, total));
    // Space returns: nothing more is dropped, and the rows of the kept ones are all there.
    databases[0]!.db.pragma('max_page_count = 1000000');
    const droppedBefore = outbox.stats().dropped;
    for (let i = total + 1; i <= total + 500; i++) outbox.enqueue(message(i));
    expect(outbox.stats().dropped).toBe(droppedBefore);
    await outbox.stop();
    const again = make();
    await again.start(signal);
    expect(drain(again).map(seqOf)).toEqual([...kept, ...range(total + 1, total + 500)]);
    await again.stop();
  });

  it('when nothing can be written, new entries wait in memory in order, and are stored when writing works again', async () => {
    const { logger, records } = captureLogger();
    const outbox = make({ logger, retryDelayMs: 20 });
    await outbox.start(signal);
    outbox.enqueue(message(1));
    const db = databases[0]!.db;
    // A reader holding a write lock elsewhere: every write fails (SQLITE_BUSY), nothing can be dropped to make room.
    const other = new Database(file());
    other.pragma('busy_timeout = 0');
    db.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    for (let i = 2; i <= 5; i++) outbox.enqueue(message(i));
    expect(outbox.stats()).toMatchObject({ diskOk: false, pending: 5 });
    expect(outbox.stats().storageError).toMatch(/locked|busy/i);
    expect(records().filter((r) => r.code === 'LS_MQTT_OUTBOX' && r.level === 50)).toHaveLength(1);
    const first = outbox.takeNext()!;
    expect(seqOf(first)).toBe(1);
    outbox.release(first.n);
    other.exec('ROLLBACK');
    other.close();
    await waitFor(() => outbox.stats().diskOk, 5000, 'the outbox to write again');
    expect(outbox.stats().storageError).toBeNull();
    await outbox.stop();
    const again = make();
    await again.start(signal);
    expect(drain(again).map(seqOf)).toEqual([1, 2, 3, 4, 5]);
    await again.stop();
  });

  it('without a database: memory only, bounded, storageError set from start, lost at stop and said so', async () => {
    const { logger, records } = captureLogger();
    const outbox = new Outbox({ maxBytes: 1024 * 1024, memoryMaxBytes: 2048, logger, unavailable: 'EACCES: /var/x' });
    await outbox.start(signal);
    expect(outbox.stats()).toMatchObject({ diskOk: false, storageError: 'EACCES: /var/x' });
    for (let i = 1; i <= 100; i++) outbox.enqueue(message(i));
    const stats = outbox.stats();
    expect(stats.pendingBytes).toBeLessThanOrEqual(2048);
    expect(stats.dropped).toBe(100 - stats.pending);
    expect(drain(outbox).map(seqOf)).toEqual(range(100 - stats.pending + 1, 100));
    await outbox.stop();
    expect(outbox.stats().lostAtStop).toBe(stats.pending);
    expect(records().filter((r) => r.code === 'LS_MQTT_OUTBOX' && r.level === 50)).toHaveLength(2);
  });

  it('warns when a message arrives after stop', async () => {
    const { logger, records } = captureLogger();
    const outbox = make({ logger });
    await outbox.start(signal);
    await outbox.stop();
    outbox.enqueue(message(1));
    expect(records().some((r) => r.code === 'LS_MQTT_OUTBOX' && r.level === 40)).toBe(true);
  });

  describe('an outbox directory of the previous version (segment files)', () => {
    async function oldOutbox(legacyDir: string, total: number, acked: number): Promise<void> {
      const old = new SegmentOutbox({ dir: legacyDir, maxBytes: 1024 * 1024, fsync: false, logger: silentLogger() });
      await old.start(signal);
      for (let i = 1; i <= total; i++) old.enqueue(message(i));
      await old.flush();
      const taken: { n: number }[] = [];
      for (let e = old.takeNext(); e; e = old.takeNext()) taken.push(e);
      for (const e of taken.slice(0, acked)) old.ack(e.n);
      await old.stop();
    }

    it('is imported at first start, unacknowledged entries in order, and renamed <dir>.migrated', async () => {
      const legacyDir = join(dir.path, 'outbox');
      await oldOutbox(legacyDir, 40, 15);
      const outbox = make({ legacyDir });
      await outbox.start(signal);
      expect(existsSync(legacyDir)).toBe(false);
      expect(existsSync(`${legacyDir}.migrated`)).toBe(true);
      outbox.enqueue(message(41));
      expect(drain(outbox).map(seqOf)).toEqual(range(16, 41));
      await outbox.stop();
      const again = make({ legacyDir });
      await again.start(signal);
      expect(again.stats().pending).toBe(26);
      await again.stop();
    });

    it('an outbox_dir that is the state directory itself: the old files are imported and renamed, the directory and the database stay', async () => {
      await oldOutbox(dir.path, 5, 2);
      const outbox = make({ legacyDir: dir.path });
      await outbox.start(signal);
      expect(drain(outbox).map(seqOf)).toEqual([3, 4, 5]);
      await outbox.stop();
      expect(existsSync(file())).toBe(true);
      expect(existsSync(`${dir.path}.migrated`)).toBe(false);
      expect(existsSync(join(dir.path, 'ack.json.migrated'))).toBe(true);
      const again = make({ legacyDir: dir.path });
      await again.start(signal);
      expect(again.stats().pending).toBe(3);
      await again.stop();
    });

    it('a directory without segment files or ack.json is left alone', async () => {
      const legacyDir = join(dir.path, 'outbox');
      await mkdir(legacyDir);
      const outbox = make({ legacyDir });
      await outbox.start(signal);
      await outbox.stop();
      expect(existsSync(legacyDir)).toBe(true);
    });

    it('interrupted after the import but before the rename: the next start only renames (no duplicates)', async () => {
      const legacyDir = join(dir.path, 'outbox');
      await oldOutbox(legacyDir, 10, 0);
      const first = make({ legacyDir });
      await first.start(signal);
      await first.stop();
      // As if the process died between the import's commit and the rename.
      await oldOutbox(legacyDir, 10, 0);
      const second = make({ legacyDir });
      await second.start(signal);
      expect(drain(second).map(seqOf)).toEqual(range(1, 10));
      expect(existsSync(legacyDir)).toBe(false);
      await second.stop();
    });
  });
});
