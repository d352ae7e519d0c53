import type Database from 'better-sqlite3';
import type { PartRecord } from '../domain/part.js';
import type { ModelInfo } from '../domain/ports.js';

const INSERT_PART = `INSERT OR REPLACE INTO parts (id, seq, run_id, triggered_ms, decided_ms, gate_ms, decision, verdict,
  score, threshold, failsafe_reason, error_code, latency_ms, stages_ms, model_version, execution_provider, outcome,
  confirmed, image_ref)
  VALUES (@id, @seq, @run_id, @triggered_ms, @decided_ms, @gate_ms, @decision, @verdict, @score, @threshold,
  @failsafe_reason, @error_code, @latency_ms, @stages_ms, @model_version, @execution_provider, @outcome, @confirmed,
  @image_ref)`;

const INSERT_RUN = `INSERT OR REPLACE INTO runs (run_id, started_ms, model_name, model_version, model_sha256,
  execution_provider, threshold) VALUES (?, ?, ?, ?, ?, ?, ?)`;

/** Stage timings to the microsecond: the clock's noise is larger, and 17 digits cost 30 bytes a part. */
function microseconds(_key: string, value: unknown): unknown {
  return typeof value === 'number' ? Math.round(value * 1000) / 1000 : value;
}

/** The parameters of one parts row. Wall-clock times of the decision and the gate come from monotonic deltas. */
export function partRow(record: PartRecord): Record<string, string | number | null> {
  const triggeredMs = Date.parse(record.triggeredAt);
  const { verdictLatencyMs, tracking } = record;
  const firedAfterMs = tracking.firedMs === undefined ? undefined : tracking.firedMs - record.triggerMs;
  return {
    id: record.id,
    seq: record.seq,
    run_id: record.runId,
    triggered_ms: triggeredMs,
    decided_ms: verdictLatencyMs === undefined ? null : Math.round(triggeredMs + verdictLatencyMs),
    gate_ms: firedAfterMs === undefined ? null : Math.round(triggeredMs + firedAfterMs),
    decision: record.decision,
    verdict: record.verdict ?? null,
    score: record.defectScore ?? null,
    threshold: record.threshold ?? null,
    failsafe_reason: record.failsafeReason ?? null,
    error_code: record.errorCode ?? null,
    latency_ms: verdictLatencyMs === undefined ? null : Math.round(verdictLatencyMs * 1000) / 1000,
    stages_ms: JSON.stringify(record.stagesMs, microseconds),
    model_version: record.modelVersion ?? null,
    execution_provider: record.executionProvider ?? null,
    outcome: tracking.outcome ?? null,
    confirmed: tracking.confirmed === null ? null : Number(tracking.confirmed),
    image_ref: record.imageRef ?? null,
  };
}

/**
 * Writes the verdict history: one prepared INSERT per part, on the event loop. A commit writes the WAL without an
 * fsync (database.ts), which takes microseconds (benchmarks/record.ts measures it); the checkpointer syncs.
 */
export class HistoryWriter {
  private readonly insertPart: Database.Statement;
  private readonly insertRun: Database.Statement;
  private readonly clearImage: Database.Statement;

  constructor(db: Database.Database) {
    this.insertPart = db.prepare(INSERT_PART);
    this.insertRun = db.prepare(INSERT_RUN);
    this.clearImage = db.prepare('UPDATE parts SET image_ref = NULL WHERE id = ?');
  }

  /** The run and the model it inspects with (name, version, sha256), once per run. */
  run(runId: string, startedMs: number, model: ModelInfo | undefined): void {
    const m = model;
    this.insertRun.run(runId, startedMs, m?.name, m?.version, m?.sha256, m?.executionProvider, m?.threshold);
  }

  insert(record: PartRecord): void {
    this.insertPart.run(partRow(record));
  }

  /** The image announced for this part was not kept after all (queue full, no space, write failed). */
  imageGone(partId: string): void {
    this.clearImage.run(partId);
  }
}
