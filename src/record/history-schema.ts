import type { Migration } from './database.js';

/**
 * The verdict history, the image archive's index, operator labels and hourly aggregates (docs/record.md). Times
 * are wall-clock milliseconds since the epoch (integers: smaller than ISO text, and range queries use the index).
 * Append new steps at the end, never edit a shipped one.
 */
export const historyMigrations: readonly Migration[] = [
  {
    name: '0101-history-runs-parts',
    sql: `
      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_ms INTEGER NOT NULL,
        model_name TEXT,
        model_version TEXT,
        model_sha256 TEXT,
        execution_provider TEXT,
        threshold REAL
      );
      CREATE TABLE parts (
        id TEXT NOT NULL UNIQUE,
        seq INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        triggered_ms INTEGER NOT NULL,
        decided_ms INTEGER,
        gate_ms INTEGER,
        decision TEXT NOT NULL,
        verdict TEXT,
        score REAL,
        threshold REAL,
        failsafe_reason TEXT,
        error_code TEXT,
        latency_ms REAL,
        stages_ms TEXT NOT NULL,
        model_version TEXT,
        execution_provider TEXT,
        outcome TEXT,
        confirmed INTEGER,
        image_ref TEXT,
        label TEXT,
        label_by TEXT,
        label_ms INTEGER
      );
      CREATE INDEX parts_triggered ON parts (triggered_ms);
    `,
  },
  {
    name: '0102-history-images',
    sql: `
      CREATE TABLE images (
        part_id TEXT PRIMARY KEY,
        ref TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        kept_ms INTEGER NOT NULL,
        why TEXT NOT NULL
      );
      CREATE INDEX images_kept ON images (kept_ms);
    `,
  },
  {
    name: '0103-history-hourly',
    sql: `
      CREATE TABLE hourly (
        hour_ms INTEGER PRIMARY KEY,
        parts INTEGER NOT NULL,
        rejects INTEGER NOT NULL,
        rejects_by_reason TEXT NOT NULL,
        yield REAL,
        latency_p50_ms REAL,
        latency_p99_ms REAL,
        latency_max_ms REAL,
        computed_ms INTEGER NOT NULL
      );
    `,
  },
];
