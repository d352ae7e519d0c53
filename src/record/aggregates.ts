import type Database from 'better-sqlite3';

export const HOUR_MS = 3_600_000;
/** An hour is aggregated this long after it ended, when its last parts have settled. */
const SETTLE_MS = 60_000;

export interface HourlyRow {
  hourMs: number;
  parts: number;
  rejects: number;
  /** Rejects by fail-safe reason; `model` counts the model's own reject verdicts. */
  rejectsByReason: Record<string, number>;
  /** Passes / parts. */
  yield: number | null;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  latencyMaxMs: number | null;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

/** The aggregate of one hour of the history (parts triggered in [hourMs, hourMs + 1 h)). */
export function aggregateHour(db: Database.Database, hourMs: number): HourlyRow {
  const range = [hourMs, hourMs + HOUR_MS];
  const where = 'WHERE triggered_ms >= ? AND triggered_ms < ?';
  const counts = db
    .prepare(`SELECT COUNT(*) AS parts, COALESCE(SUM(decision = 'reject'), 0) AS rejects FROM parts ${where}`)
    .get(...range) as { parts: number; rejects: number };
  const reasons = db
    .prepare(
      `SELECT COALESCE(failsafe_reason, 'model') AS reason, COUNT(*) AS n FROM parts ${where} AND decision = 'reject' GROUP BY 1`,
    )
    .all(...range) as { reason: string; n: number }[];
  const latencies = (
    db
      .prepare(`SELECT latency_ms FROM parts ${where} AND latency_ms IS NOT NULL ORDER BY latency_ms`)
      .pluck()
      .all(...range) as number[]
  ).filter((v) => Number.isFinite(v));
  return {
    hourMs,
    parts: counts.parts,
    rejects: counts.rejects,
    rejectsByReason: Object.fromEntries(reasons.map((r) => [r.reason, r.n])),
    yield: counts.parts === 0 ? null : (counts.parts - counts.rejects) / counts.parts,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    latencyMaxMs: latencies.at(-1) ?? null,
  };
}

/**
 * Aggregates the completed hours that have parts and no row yet, oldest first, at most `maxHours` per call (a
 * backlog after a long stop is worked off over several maintenance runs). Returns the hours written.
 */
export function aggregateCompletedHours(db: Database.Database, nowMs: number, maxHours = 6): number {
  const last = db.prepare('SELECT MAX(hour_ms) FROM hourly').pluck().get() as number | null;
  const nextPart = db.prepare('SELECT MIN(triggered_ms) FROM parts WHERE triggered_ms >= ?').pluck();
  const insert = db.prepare(
    `INSERT OR REPLACE INTO hourly (hour_ms, parts, rejects, rejects_by_reason, yield, latency_p50_ms, latency_p99_ms,
      latency_max_ms, computed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  let from = last === null ? 0 : last + HOUR_MS;
  let written = 0;
  while (written < maxHours) {
    const first = nextPart.get(from) as number | null;
    if (first === null) break;
    const hourMs = Math.floor(first / HOUR_MS) * HOUR_MS;
    if (hourMs + HOUR_MS + SETTLE_MS > nowMs) break;
    const row = aggregateHour(db, hourMs);
    const reasons = JSON.stringify(row.rejectsByReason);
    insert.run(
      hourMs,
      row.parts,
      row.rejects,
      reasons,
      row.yield,
      row.latencyP50Ms,
      row.latencyP99Ms,
      row.latencyMaxMs,
      nowMs,
    );
    written += 1;
    from = hourMs + HOUR_MS;
  }
  return written;
}

export function hourlyRows(db: Database.Database, sinceMs: number, untilMs: number): HourlyRow[] {
  const rows = db
    .prepare('SELECT * FROM hourly WHERE hour_ms >= ? AND hour_ms <= ? ORDER BY hour_ms')
    .all(sinceMs, untilMs) as Record<string, number | string | null>[];
  return rows.map((r) => ({
    hourMs: Number(r.hour_ms),
    parts: Number(r.parts),
    rejects: Number(r.rejects),
    rejectsByReason: JSON.parse(String(r.rejects_by_reason)) as Record<string, number>,
    yield: r.yield === null ? null : Number(r.yield),
    latencyP50Ms: r.latency_p50_ms === null ? null : Number(r.latency_p50_ms),
    latencyP99Ms: r.latency_p99_ms === null ? null : Number(r.latency_p99_ms),
    latencyMaxMs: r.latency_max_ms === null ? null : Number(r.latency_max_ms),
  }));
}
