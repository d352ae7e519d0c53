/**
 * The line record's cost on the event loop, per part, and its size on disk:
 *
 *   node --import tsx benchmarks/record.ts [--parts 20000] [--rate 200]
 *
 * 1. LineRecord.part() as the daemon calls it in onPart (archive decision, imageRef, one prepared INSERT with no
 *    fsync, the image queued): time per call (p50, p99, p99.9, max), with real JPEGs from ../shared/casting/train,
 *    record.sample_passes 10 and 1 part in 3 a reject, the checkpointer thread syncing every second. Then the same
 *    at `--rate` parts/s on timers with monitorEventLoopDelay running: the event-loop stall the record adds.
 * 2. Bytes per history row: the database file's size (after a full checkpoint and VACUUM) over the rows.
 * 3. One hour's aggregate at 20 parts/s (72,000 rows): how long the maintenance run stalls the loop for it.
 * 4. The mean size of the dataset's JPEGs (what an archived image takes).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { recordSection } from '../src/config/sections/record.js';
import type { PartRecord } from '../src/domain/part.js';
import { aggregateHour, HOUR_MS } from '../src/record/aggregates.js';
import { LineRecord } from '../src/record/index.js';

const { values } = parseArgs({
  options: { parts: { type: 'string', default: '20000' }, rate: { type: 'string', default: '200' } },
});
const PARTS = Number(values.parts);
const RATE = Number(values.rate);
const DATASET = path.resolve(import.meta.dirname, '../../shared/casting/train');

function quantiles(samples: number[]): Record<string, number> {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? NaN;
  const r = (v: number): number => Math.round(v * 1000) / 1000;
  return { p50: r(q(0.5)), p99: r(q(0.99)), 'p99.9': r(q(0.999)), max: r(s.at(-1) ?? NaN) };
}

function part(seq: number, t0: number): PartRecord {
  const reject = seq % 3 === 0;
  const score = reject ? 0.9 : (seq % 97) / 400;
  return {
    seq,
    id: `20261203T101500-abcdef12-${seq}`,
    runId: '20261203T101500-abcdef12',
    triggerMs: seq * 50,
    triggeredAt: new Date(t0 + seq * 50).toISOString(),
    verdict: reject ? 'defective' : 'ok',
    defectScore: score,
    threshold: 0.5,
    modelVersion: '1.0.0',
    executionProvider: 'cpu',
    decision: reject ? 'reject' : 'pass',
    stagesMs: { capture: 1.234, preprocess: 2.345, inference: 1.456 },
    verdictLatencyMs: 8.5 + (seq % 13),
    tracking: {
      mode: 'time',
      dueMs: seq * 50 + 1200,
      fired: reject,
      confirmed: reject ? true : null,
      outcome: reject ? 'fired' : 'passed',
      ...(reject ? { firedMs: seq * 50 + 1190 } : {}),
    },
  };
}

const jpegs = ['def_front', 'ok_front'].flatMap((c) =>
  readdirSync(path.join(DATASET, c))
    .sort()
    .slice(0, 50)
    .map((f) => readFileSync(path.join(DATASET, c, f))),
);

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ls-bench-record-'));
  const config = recordSection.parse({
    dir,
    sample_passes: 10,
    min_free_mb: 0,
    archive_queue: 10_000,
    maintenance_interval_ms: 3_600_000, // measured on its own below (3.)
  });
  const record = new LineRecord({ config, baseDir: dir, logger: pino({ level: 'warn' }), runId: 'bench' });
  await record.start(new AbortController().signal);
  const t0 = Date.now() - 3 * HOUR_MS;
  console.log(
    `node ${process.version}, ${cpus().length} cpus, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  const calls: number[] = [];
  for (let seq = 1; seq <= PARTS; seq += 1) {
    const rec = part(seq, t0);
    const started = performance.now();
    record.part(rec, { data: jpegs[seq % jpegs.length]!, source: 'bench' });
    calls.push((performance.now() - started) * 1000);
    if (seq % 500 === 0) await record.archiveIdle();
  }
  await record.archiveIdle();
  console.log(`1. LineRecord.part() back to back, ${PARTS} parts, microseconds:`, quantiles(calls));
  const inserts: number[] = [];
  for (let seq = 1; seq <= PARTS; seq += 1) {
    const rec = part(10 * PARTS + seq, t0);
    const started = performance.now();
    record.part(rec, undefined); // no image: the history INSERT alone
    inserts.push((performance.now() - started) * 1000);
  }
  console.log(`   the history INSERT alone (no image), ${PARTS} parts, microseconds:`, quantiles(inserts));

  const baseline = await pacedRun(undefined, t0);
  console.log(`   at ${RATE} parts/s, no record (baseline): event-loop delay ms`, baseline.loopMs);
  const paced = await pacedRun(record, t0);
  console.log(
    `   at ${RATE} parts/s for ${paced.parts} parts: part() us`,
    paced.callUs,
    'event-loop delay ms',
    paced.loopMs,
  );
  console.log('   archive:', record.state().archive);
  await record.stop();

  const file = path.join(dir, 'lineside.db');
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('VACUUM');
  const rows = db.prepare('SELECT COUNT(*) FROM parts').pluck().get() as number;
  const images = db.prepare('SELECT COUNT(*) FROM images').pluck().get() as number;
  const bytes = statSync(file).size;
  console.log(
    `2. ${rows} history rows and ${images} image index rows in ${bytes} bytes: ${(bytes / rows).toFixed(0)} bytes per part`,
  );
  db.close();
  await hourAggregate(dir);
  let sum = 0;
  let n = 0;
  for (const c of ['def_front', 'ok_front']) {
    for (const f of readdirSync(path.join(DATASET, c))) {
      sum += statSync(path.join(DATASET, c, f)).size;
      n += 1;
    }
  }
  console.log(`4. dataset JPEGs: ${n} files, mean ${(sum / n).toFixed(0)} bytes`);
  await rm(dir, { recursive: true, force: true });
}

async function pacedRun(
  record: LineRecord | undefined,
  t0: number,
): Promise<{ parts: number; callUs: Record<string, number>; loopMs: Record<string, number> }> {
  const count = Math.min(PARTS, RATE * 20);
  const calls: number[] = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const everyMs = 1000 / RATE;
  const start = performance.now();
  for (let i = 1; i <= count; i += 1) {
    const due = start + i * everyMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const rec = part(PARTS + i, t0);
    const started = performance.now();
    record?.part(rec, { data: jpegs[i % jpegs.length]!, source: 'bench' });
    calls.push((performance.now() - started) * 1000);
  }
  histogram.disable();
  const ms = (v: number): number => Math.round((v / 1e6) * 1000) / 1000;
  const loopMs = {
    p50: ms(histogram.percentile(50)),
    p99: ms(histogram.percentile(99)),
    'p99.9': ms(histogram.percentile(99.9)),
    max: ms(histogram.max),
  };
  return { parts: count, callUs: quantiles(calls), loopMs };
}

/** 72,000 rows in one hour (20 parts/s) and the time to aggregate it, as the maintenance run does. */
async function hourAggregate(dir: string): Promise<void> {
  const file = path.join(dir, 'hour.db');
  const record = new LineRecord({
    config: recordSection.parse({ dir, min_free_mb: 0, sample_passes: 0 }),
    baseDir: dir,
    logger: pino({ level: 'warn' }),
  });
  // A record of its own so the schema is the real one; its file is lineside.db in dir, reused.
  await record.start(new AbortController().signal);
  const db = record.database.db;
  db.exec('DELETE FROM parts');
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
  const insert = db.prepare(
    'INSERT INTO parts (id, seq, run_id, triggered_ms, decision, latency_ms, stages_ms, failsafe_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let i = 0; i < 72_000; i += 1) {
      insert.run(
        `h-${i}`,
        i,
        'h',
        hour + i * 50,
        i % 3 === 0 ? 'reject' : 'pass',
        5 + (i % 50) / 3,
        '{}',
        i % 30 === 0 ? 'late' : null,
      );
    }
  })();
  const started = performance.now();
  const row = aggregateHour(db, hour);
  console.log(
    `3. one hour at 20 parts/s (${row.parts} rows) aggregated in ${(performance.now() - started).toFixed(1)} ms (on the checkpointer thread)`,
  );
  const prune = db.prepare(
    'DELETE FROM parts WHERE rowid IN (SELECT rowid FROM parts WHERE triggered_ms < ? LIMIT 200)',
  );
  const batches: number[] = [];
  for (let i = 0; i < 50; i += 1) {
    const t = performance.now();
    prune.run(Date.now());
    batches.push((performance.now() - t) * 1000);
  }
  console.log('   pruning by age, one DELETE batch of 200 rows on the event loop, microseconds:', quantiles(batches));
  await record.stop();
  void file;
}

// The record's own timers and threads never hold a process open (the daemon's stop ends them): this does.
const keepAlive = setInterval(() => undefined, 1000);
await main();
clearInterval(keepAlive);
