/**
 * The checkpointer's thread: its own connection to the record database, which copies the WAL into the database
 * file and fsyncs both every interval. Those fsyncs are the only ones the record makes, and they never run on the
 * event loop. It also computes the hourly aggregates (a scan of an hour of history: hundreds of milliseconds at
 * 20 parts/s, too long for the event loop). Messages: in `{ stop: true }`, `{ aggregate: nowMs }`; out
 * `{ ok: true, ms, frames }` or `{ ok: false, error }` per run, `{ aggregated: hours }` or `{ aggregateError }`,
 * and `{ stopped: true }` after the final checkpoint.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { aggregateCompletedHours } from './aggregates.js';

interface Options {
  file: string;
  intervalMs: number;
}

const { file, intervalMs } = workerData as Options;
const port = parentPort;
if (!port) throw new Error('checkpoint-worker runs as a worker thread');

const db = new Database(file);
db.pragma('busy_timeout = 1000');

function checkpoint(): void {
  const started = performance.now();
  try {
    const rows = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    const frames = rows[0]?.checkpointed ?? 0;
    port?.postMessage({ ok: true, ms: performance.now() - started, frames });
  } catch (err) {
    port?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

const timer = setInterval(checkpoint, intervalMs);
function aggregate(nowMs: number): void {
  try {
    port?.postMessage({ aggregated: aggregateCompletedHours(db, nowMs) });
  } catch (err) {
    port?.postMessage({ aggregateError: err instanceof Error ? err.message : String(err) });
  }
}

port.on('message', (message: { stop?: boolean; aggregate?: number }) => {
  if (message.aggregate !== undefined) aggregate(message.aggregate);
  if (!message.stop) return;
  clearInterval(timer);
  checkpoint();
  db.close();
  port.postMessage({ stopped: true });
  port.close();
});
