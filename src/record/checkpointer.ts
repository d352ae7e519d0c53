import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { LogThrottle } from '../log-throttle.js';
import { siblingModule, startWorker } from '../worker.js';

export interface CheckpointerOptions {
  file: string;
  intervalMs: number;
  logger: Logger;
}

export interface CheckpointStats {
  /** Checkpoints run since start (each one fsyncs the WAL and the database file). */
  runs: number;
  failures: number;
  /** Wall-clock ISO time of the last successful checkpoint: what a power cut cannot lose. */
  lastSyncedAt: string | null;
  lastMs: number | null;
}

const STOP_LIMIT_MS = 5000;

/**
 * Runs the record database's checkpoints (and so its fsyncs) in a thread of its own (checkpoint-worker.ts). What a
 * power cut can lose is bounded by the interval: the commits since the last successful checkpoint.
 */
export class Checkpointer {
  private worker: Worker | undefined;
  private readonly failuresLog = new LogThrottle(60_000);
  private readonly stats: CheckpointStats = { runs: 0, failures: 0, lastSyncedAt: null, lastMs: null };

  constructor(private readonly options: CheckpointerOptions) {}

  start(): void {
    const { file, intervalMs } = this.options;
    const worker = startWorker(siblingModule(import.meta.url, 'checkpoint-worker'), {
      workerData: { file, intervalMs },
    });
    worker.on('message', (message: { ok?: boolean; ms?: number; error?: string }) => this.onMessage(message));
    worker.on('error', (err) => {
      this.options.logger.error({ code: 'LS_RECORD_IO', err: err.message }, 'record checkpointer thread failed');
      this.worker = undefined;
    });
    // Never keeps the process alive by itself: stop() ends it in an orderly way, an exit ends it anyway.
    worker.unref();
    this.worker = worker;
  }

  private onMessage(message: { ok?: boolean; ms?: number; error?: string }): void {
    if (message.ok === true) {
      this.stats.runs += 1;
      this.stats.lastSyncedAt = new Date().toISOString();
      this.stats.lastMs = message.ms ?? null;
      this.failuresLog.reset();
    } else if (message.ok === false) {
      this.stats.failures += 1;
      const due = this.failuresLog.due();
      const fields = { code: 'LS_RECORD_IO', err: message.error, failures: due?.count };
      if (due) this.options.logger.error(fields, 'record checkpoint failed: recent verdicts are not yet power-safe');
    }
  }

  /**
   * Computes the hourly aggregates of the hours completed by `nowMs` on the thread (aggregates.ts); resolves with
   * the hours written, rejects with the thread's error, or resolves 0 when the thread is not running.
   */
  aggregate(nowMs: number): Promise<number> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      const onMessage = (m: { aggregated?: number; aggregateError?: string }): void => {
        if (m.aggregated === undefined && m.aggregateError === undefined) return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        if (m.aggregateError !== undefined) reject(new Error(m.aggregateError));
        else resolve(m.aggregated ?? 0);
      };
      const onExit = (): void => {
        worker.off('message', onMessage);
        resolve(0);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.postMessage({ aggregate: nowMs });
    });
  }

  state(): CheckpointStats {
    return { ...this.stats };
  }

  /** Runs a last checkpoint and ends the thread (bounded: a thread that does not answer is terminated). */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const stopped = new Promise<void>((resolve) => {
      worker.on('message', (m: { stopped?: boolean }) => m.stopped && resolve());
      worker.once('exit', () => resolve());
    });
    worker.postMessage({ stop: true });
    const limit = new Promise<void>((resolve) => setTimeout(resolve, STOP_LIMIT_MS).unref());
    await Promise.race([stopped, limit]);
    await worker.terminate();
  }
}
