import type { Label } from '../domain/part.js';
import { errorCode, errorMessage } from '../errors.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';
import { openRecord } from './record-open.js';

const LABEL_USAGE = `usage: lineside label PART_ID defective|ok [--by NAME] [--config FILE] [--json]

Records a human verdict on a part beside the model's (the training export prefers it). Works while the daemon
runs. An id not in the verdict history fails with LS_RECORD_UNKNOWN_PART (exit 1).

options:
  --by NAME           who says so (default: $USER)
  --config FILE       the daemon's config (record.dir); default: ./var
  --json              print the part's history row as JSON`;

/** `lineside label`: LineRecordReader.label from the command line. */
export function runLabel(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(
    argv,
    { by: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
    { positionals: true },
  );
  if (line.problem !== undefined) return Promise.resolve(usageError(io, line.problem, LABEL_USAGE));
  const [partId, label, ...rest] = line.positionals;
  if (partId === undefined || (label !== 'defective' && label !== 'ok') || rest.length > 0) {
    return Promise.resolve(usageError(io, 'expected PART_ID and defective or ok', LABEL_USAGE));
  }
  const by = line.values.by ?? io.env.USER ?? 'operator';
  const opened = openRecord(line.values.config, io, true);
  if (typeof opened === 'number') return Promise.resolve(opened);
  try {
    const row = opened.reader.label(partId, label satisfies Label, by);
    if (line.values.json === true) io.stdout.write(`${JSON.stringify(row)}\n`);
    else {
      const model = row.verdict === undefined ? row.decision : `${row.verdict} ${row.defectScore?.toFixed(4) ?? ''}`;
      io.stdout.write(`${row.id} labelled ${label} by ${by} (model: ${model.trim()})\n`);
    }
    return Promise.resolve(EXIT.OK);
  } catch (err) {
    io.stderr.write(`${errorCode(err)}: ${errorMessage(err)}\n`);
    return Promise.resolve(EXIT.FAILURE);
  } finally {
    opened.close();
  }
}
