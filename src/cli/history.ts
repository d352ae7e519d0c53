import type Database from 'better-sqlite3';
import { hourlyRows } from '../record/aggregates.js';
import { FAILSAFE_REASONS, type Decision, type FailsafeReason } from '../domain/part.js';
import type { HistoryQuery, HistoryRow } from '../domain/record.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';
import { openRecord, parseTime } from './record-open.js';

const HISTORY_USAGE = `usage: lineside history [--config FILE] [--since T] [--until T] [--decision pass|reject] [--reason R]
                        [--limit N] [--hourly] [--json|--csv]

The verdict history of the line record (docs/record.md), oldest first, one row per part and a total line.
Works while the daemon runs (the database is opened read-only).

options:
  --config FILE       the daemon's config (record.dir); default: ./var
  --since T, --until T  ISO 8601 (2026-12-03T08:00Z) or an age before now (90m, 12h, 7d); inclusive
  --decision D        pass or reject
  --reason R          fail-safe reason (${FAILSAFE_REASONS.join(', ')})
  --limit N           the newest N parts only (the total still counts all)
  --hourly            the hourly aggregates instead (parts, rejects by reason, yield, latency p50/p99/max), kept
                      record.aggregate_retention_days; completed hours only
  --json              one JSON object: {"total", "rejects", "rows": [...]}
  --csv               CSV with a header on stdout; the total line goes to stderr`;

const CSV_COLUMNS = ['triggered_at', 'id', 'decision', 'verdict', 'defect_score', 'failsafe_reason', 'error_code'];
const CSV_MORE = ['latency_ms', 'outcome', 'image_ref', 'label', 'label_by'];

function csvCell(value: string | number | undefined): string {
  const s = value === undefined || value === null ? '' : String(value);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csvLine(r: HistoryRow): string {
  const cells = [r.triggeredAt, r.id, r.decision, r.verdict, r.defectScore, r.failsafeReason, r.errorCode];
  cells.push(r.latencyMs, r.outcome, r.imageRef, r.label?.label, r.label?.by);
  return cells.map(csvCell).join(',');
}

function textLine(r: HistoryRow): string {
  const score = r.defectScore === undefined ? '-' : r.defectScore.toFixed(4);
  const why = r.failsafeReason === undefined ? '' : ` failsafe=${r.failsafeReason}`;
  const image = r.imageRef === undefined ? '' : ` image=${r.imageRef}`;
  const label = r.label === undefined ? '' : ` label=${r.label.label}(${r.label.by})`;
  return `${r.triggeredAt} ${r.id} ${r.decision} ${r.verdict ?? '-'} ${score}${why}${image}${label}`;
}

type Format = 'text' | 'json' | 'csv';
type Parsed = { query: HistoryQuery; format: Format; config: string | undefined; hourly: boolean } | string;

function parseQuery(argv: string[]): Parsed {
  const line = parseCommandLine(argv, {
    config: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    decision: { type: 'string' },
    reason: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
    hourly: { type: 'boolean' },
  });
  if (line.problem !== undefined) return line.problem;
  const v = line.values;
  const query: HistoryQuery = {};
  for (const key of ['since', 'until'] as const) {
    const raw = v[key];
    if (raw === undefined) continue;
    const at = parseTime(raw);
    if (at === null) return `--${key}: not a time or an age (got ${raw})`;
    query[key] = at;
  }
  if (v.decision !== undefined) {
    if (v.decision !== 'pass' && v.decision !== 'reject') return `--decision: pass or reject (got ${v.decision})`;
    query.decision = v.decision satisfies Decision;
  }
  if (v.reason !== undefined) {
    if (!FAILSAFE_REASONS.includes(v.reason as FailsafeReason)) return `--reason: unknown reason ${v.reason}`;
    query.reason = v.reason as FailsafeReason;
  }
  if (v.limit !== undefined) {
    const n = Number(v.limit);
    if (!Number.isInteger(n) || n < 0) return `--limit: a whole number (got ${v.limit})`;
    query.limit = n;
  }
  if (v.json === true && v.csv === true) return '--json and --csv: choose one';
  const format = v.json === true ? 'json' : v.csv === true ? 'csv' : 'text';
  return { query, format, config: v.config, hourly: v.hourly === true };
}

/** `lineside history`: the parts of the verdict history that match, and how many. */
export function runHistory(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseQuery(argv);
  if (typeof parsed === 'string') return Promise.resolve(usageError(io, parsed, HISTORY_USAGE));
  const opened = openRecord(parsed.config, io);
  if (typeof opened === 'number') return Promise.resolve(opened);
  try {
    if (parsed.hourly) {
      printHourly(io, opened.db, parsed.query, parsed.format);
      return Promise.resolve(EXIT.OK);
    }
    const rows = opened.reader.history(parsed.query).reverse();
    const { parts, rejects } = opened.reader.count(parsed.query);
    const total = `total: ${parts} parts, ${rejects} rejected${rows.length < parts ? ` (${rows.length} shown)` : ''}`;
    if (parsed.format === 'json') {
      io.stdout.write(`${JSON.stringify({ total: parts, rejects, rows })}\n`);
    } else if (parsed.format === 'csv') {
      io.stdout.write(`${[...CSV_COLUMNS, ...CSV_MORE].join(',')}\n${rows.map((r) => `${csvLine(r)}\n`).join('')}`);
      io.stderr.write(`${total}\n`);
    } else {
      io.stdout.write(`${rows.map((r) => `${textLine(r)}\n`).join('')}${total}\n`);
    }
    return Promise.resolve(EXIT.OK);
  } finally {
    opened.close();
  }
}

/** The hourly aggregates in [since, until] (hours starting in it), one line per hour and a total line. */
function printHourly(io: CliIo, db: Database.Database, query: HistoryQuery, format: Format): void {
  const ms = (iso: string | undefined, fallback: number): number => (iso === undefined ? fallback : Date.parse(iso));
  const hours = hourlyRows(db, ms(query.since, 0), ms(query.until, Number.MAX_SAFE_INTEGER));
  const parts = hours.reduce((n, h) => n + h.parts, 0);
  const rejects = hours.reduce((n, h) => n + h.rejects, 0);
  if (format === 'json') {
    const rows = hours.map((h) => ({ ...h, hour: new Date(h.hourMs).toISOString() }));
    io.stdout.write(`${JSON.stringify({ total: parts, rejects, hours: rows })}\n`);
    return;
  }
  const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const num = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  const lines = hours.map((h) => {
    const reasons = Object.entries(h.rejectsByReason).map(([k, n]) => `${k}=${n}`);
    const latency = `${num(h.latencyP50Ms)}/${num(h.latencyP99Ms)}/${num(h.latencyMaxMs)}`;
    const hour = new Date(h.hourMs).toISOString();
    return format === 'csv'
      ? [hour, h.parts, h.rejects, h.yield ?? '', h.latencyP50Ms ?? '', h.latencyP99Ms ?? '', reasons.join(' ')].join(
          ',',
        )
      : `${hour} parts=${h.parts} rejects=${h.rejects} yield=${pct(h.yield)} ms p50/p99/max=${latency} ${reasons.join(' ')}`;
  });
  const total = `total: ${parts} parts, ${rejects} rejected in ${hours.length} hours`;
  if (format === 'csv') {
    io.stdout.write(
      `hour,parts,rejects,yield,latency_p50_ms,latency_p99_ms,rejects_by_reason\n${lines.map((l) => `${l}\n`).join('')}`,
    );
    io.stderr.write(`${total}\n`);
  } else io.stdout.write(`${lines.map((l) => `${l}\n`).join('')}${total}\n`);
}
