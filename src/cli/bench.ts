import { runBench } from '../bench/bench.js';
import { table, toJson } from '../bench/report.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

const BENCH_USAGE = 'usage: lineside bench [--json] [--quick]';

/**
 * `lineside bench [--json] [--quick]`: the line at 20 parts/s, the highest rate it holds, the gate's edge error
 * under load, memory and event-loop lag, and the seed-style Python baseline (BENCHMARKS.md). Progress goes to
 * stderr; the table to stdout, and with --json the last stdout line is the figures as one JSON object.
 */
export async function runBenchCommand(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(argv, { json: { type: 'boolean' }, quick: { type: 'boolean' } });
  if (line.problem !== undefined) return usageError(io, line.problem, BENCH_USAGE);
  const quick = line.values.quick === true;
  const results = await runBench(quick, (message) => io.stderr.write(`${message}\n`));
  const json = toJson(results);
  io.stdout.write(`${table(json).join('\n')}\n`);
  if (line.values.json === true) io.stdout.write(`${JSON.stringify(json)}\n`);
  return EXIT.OK;
}
