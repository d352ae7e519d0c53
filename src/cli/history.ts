import { FAILSAFE_REASONS, type Decision, type FailsafeReason } from '../domain/part.js';
import type { HistoryQuery, HistoryRow } from '../domain/record.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';
import { openRecord, parseTime } from './record-open.js';

const HISTORY_USAGE = `usage: lineside history [--config FILE] [--since T] [--until T] [--decision pass|reject] [--reason R]
                        [--limit N] [--json|--csv]

The verdict history of the line record (docs/record.md), oldest first, one row per part and a total line.
Works while the daemon runs (the database is opened read-only).

options:
  --config FILE       the daemon's config (record.dir); default: ./var
  --since T, --until T  ISO 8601 (2026-12-03T08:00Z) or an age before now (90m, 12h, 7d); inclusive
  --decision D        pass or reject
  --reason R          fail-safe reason (${FAILSAFE_REASONS.join(', ')})
  --limit N           the newest N parts only (the total still counts all)
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

type Parsed = { query: HistoryQuery; format: 'text' | 'json' | 'csv'; config: string | undefined } | string;

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
  return { query, format: v.json === true ? 'json' : v.csv === true ? 'csv' : 'text', config: v.config };
}

/** `lineside history`: the parts of the verdict history that match, and how many. */
export function runHistory(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseQuery(argv);
  if (typeof parsed === 'string') return Promise.resolve(usageError(io, parsed, HISTORY_USAGE));
  const opened = openRecord(parsed.config, io);
  if (typeof opened === 'number') return Promise.resolve(opened);
  try {
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
