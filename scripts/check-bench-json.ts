/**
 * CI smoke check of `lineside bench --quick --json`: stdin is its stdout; the last line must be one JSON object
 * with every key below. Only the keys are checked, never a figure: timings on a shared CI machine decide nothing.
 *
 *   npx lineside bench --quick --json | npx tsx scripts/check-bench-json.ts
 */
import { text } from 'node:stream/consumers';

const REQUIRED = [
  'pps',
  'p50_ms',
  'p99_ms',
  'gate_err_p999_ms',
  'rss_mb',
  'baseline_pps',
  'ratio',
  'execution_provider',
  'stages_p50_ms',
  'cold_start_ms',
] as const;

const out = await text(process.stdin);
const last = out.trim().split('\n').at(-1) ?? '';
let figures: unknown;
try {
  figures = JSON.parse(last);
} catch {
  process.stderr.write(`check-bench-json: the last stdout line is not JSON: ${last.slice(0, 200)}\n`);
  process.exit(1);
}
if (typeof figures !== 'object' || figures === null || Array.isArray(figures)) {
  process.stderr.write('check-bench-json: the last stdout line is not a JSON object\n');
  process.exit(1);
}
const missing = REQUIRED.filter((key) => !(key in figures));
if (missing.length > 0) {
  process.stderr.write(`check-bench-json: missing keys: ${missing.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(`check-bench-json: all ${REQUIRED.length} keys present\n`);
