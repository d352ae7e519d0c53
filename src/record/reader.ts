import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Decision, FailsafeReason, Label, Verdict } from '../domain/part.js';
import type { ArchivedImage, HistoryQuery, HistoryRow, LineRecordReader } from '../domain/record.js';
import { LinesideError, type ErrorCode } from '../errors.js';
import { contentTypeOf } from './archive-policy.js';

type Row = Record<string, string | number | null>;

const SELECT = `SELECT p.*, r.model_name, r.model_sha256 FROM parts p LEFT JOIN runs r ON r.run_id = p.run_id`;

const iso = (ms: number | string | null): string | undefined =>
  ms === null ? undefined : new Date(Number(ms)).toISOString();

/** The WHERE clause and its parameters for a query (wall-clock bounds as ISO 8601, inclusive). */
function where(query: HistoryQuery): { sql: string; params: (string | number)[] } {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const bound = (value: string, op: string): void => {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new RangeError(`not a time: ${value}`);
    clauses.push(`p.triggered_ms ${op} ?`);
    params.push(ms);
  };
  if (query.since !== undefined) bound(query.since, '>=');
  if (query.until !== undefined) bound(query.until, '<=');
  if (query.decision !== undefined) {
    clauses.push('p.decision = ?');
    params.push(query.decision);
  }
  if (query.reason !== undefined) {
    clauses.push('p.failsafe_reason = ?');
    params.push(query.reason);
  }
  if (query.withImage === true) clauses.push('p.image_ref IS NOT NULL');
  return { sql: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params };
}

/** Only the keys with a value: a history row has no null fields. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

function historyRow(r: Row): HistoryRow {
  const str = (k: string): string | undefined => (r[k] === null || r[k] === undefined ? undefined : String(r[k]));
  const num = (k: string): number | undefined => (r[k] === null || r[k] === undefined ? undefined : Number(r[k]));
  const label = str('label');
  return {
    ...defined({
      id: String(r.id),
      seq: Number(r.seq),
      runId: String(r.run_id),
      triggeredAt: iso(r.triggered_ms ?? null) ?? '',
      decision: String(r.decision) as Decision,
      verdict: str('verdict') as Verdict | undefined,
      defectScore: num('score'),
      failsafeReason: str('failsafe_reason') as FailsafeReason | undefined,
      errorCode: str('error_code') as ErrorCode | undefined,
      imageRef: str('image_ref'),
      decidedAt: iso(r.decided_ms ?? null),
      gateAt: iso(r.gate_ms ?? null),
      threshold: num('threshold'),
      latencyMs: num('latency_ms'),
      stagesMs: JSON.parse(String(r.stages_ms ?? '{}')) as Record<string, number>,
      modelName: str('model_name'),
      modelVersion: str('model_version'),
      modelSha256: str('model_sha256'),
      executionProvider: str('execution_provider'),
      outcome: str('outcome'),
    }),
    confirmed: r.confirmed === null ? null : Boolean(r.confirmed),
    ...(label === undefined
      ? {}
      : { label: { label: label as Label, by: str('label_by') ?? '', at: iso(r.label_ms ?? null) ?? '' } }),
  };
}

/**
 * LineRecordReader over the record database: the daemon's own connection, or a CLI's (read-only for history and
 * export while the daemon runs: WAL lets readers and the one writer work side by side).
 */
export class RecordReader implements LineRecordReader {
  constructor(
    private readonly db: Database.Database,
    private readonly readImage: (partId: string) => Promise<{ ref: string; data: Buffer } | null>,
  ) {}

  history(query: HistoryQuery): HistoryRow[] {
    const { sql, params } = where(query);
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const rows = this.db.prepare(`${SELECT} ${sql} ORDER BY p.triggered_ms DESC, p.seq DESC${limit}`).all(...params);
    return (rows as Row[]).map(historyRow);
  }

  /** How many parts match (all of them, whatever `limit` says), and of them how many were rejected. */
  count(query: HistoryQuery): { parts: number; rejects: number } {
    const { sql, params } = where(query);
    const row = this.db
      .prepare(`SELECT COUNT(*) AS parts, COALESCE(SUM(p.decision = 'reject'), 0) AS rejects FROM parts p ${sql}`)
      .get(...params) as { parts: number; rejects: number };
    return row;
  }

  async image(partId: string): Promise<ArchivedImage | null> {
    const found = await this.readImage(partId);
    return found === null ? null : { ref: found.ref, data: found.data, contentType: contentTypeOf(found.ref) };
  }

  label(partId: string, label: Label, by: string): HistoryRow {
    const { changes } = this.db
      .prepare('UPDATE parts SET label = ?, label_by = ?, label_ms = ? WHERE id = ?')
      .run(label, by, Date.now(), partId);
    if (changes === 0) {
      throw new LinesideError('LS_RECORD_UNKNOWN_PART', `no part ${partId} in the verdict history`);
    }
    const row = this.db.prepare(`${SELECT} WHERE p.id = ?`).get(partId) as Row;
    return historyRow(row);
  }
}

/** Reads a part's archived bytes through the archive's index; null when none was kept or the file is gone. */
export function archivedImages(
  db: Database.Database,
  archiveDir: string,
): (partId: string) => Promise<{ ref: string; data: Buffer } | null> {
  const find = db.prepare('SELECT ref FROM images WHERE part_id = ?').pluck();
  return async (partId) => {
    const ref = find.get(partId) as string | undefined;
    if (ref === undefined) return null;
    try {
      return { ref, data: await readFile(join(archiveDir, ref)) };
    } catch {
      return null;
    }
  };
}
