import { errorCode, errorMessage } from '../errors.js';
import { exportTraining } from '../record/export.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';
import { openRecord, parseTime } from './record-open.js';

const EXPORT_USAGE = `usage: lineside export --since T --out DIR [--until T] [--config FILE] [--json]

Writes the archived images of the parts triggered since T in the training layout: DIR/def_front/ and
DIR/ok_front/ (an operator's label wins over the model's verdict), the camera's bytes as they were, and
DIR/manifest.tsv and DIR/manifest.json (ids, scores, verdicts, labels). Then: lineside eval --data DIR, or
retrain (training/README.md). Works while the daemon runs.

options:
  --since T, --until T  ISO 8601 or an age before now (90m, 12h, 7d); inclusive
  --out DIR           where to write (created)
  --config FILE       the daemon's config (record.dir); default: ./var
  --json              print {"images", "defective", "ok", "skipped"} as JSON`;

/** `lineside export`: archived images for retraining. */
export async function runExport(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(argv, {
    since: { type: 'string' },
    until: { type: 'string' },
    out: { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (line.problem !== undefined) return usageError(io, line.problem, EXPORT_USAGE);
  const { out, config, json } = line.values;
  if (line.values.since === undefined || out === undefined)
    return usageError(io, '--since and --out are required', EXPORT_USAGE);
  const since = parseTime(line.values.since);
  const until = line.values.until === undefined ? undefined : parseTime(line.values.until);
  if (since === null || until === null) return usageError(io, '--since/--until: not a time or an age', EXPORT_USAGE);
  const opened = openRecord(config, io);
  if (typeof opened === 'number') return opened;
  try {
    const result = await exportTraining(opened.reader, { out, since, ...(until === undefined ? {} : { until }) });
    const defective = result.rows.filter((r) => r.class === 'defective').length;
    const summary = {
      images: result.rows.length,
      defective,
      ok: result.rows.length - defective,
      skipped: result.skipped.length,
    };
    if (json === true) io.stdout.write(`${JSON.stringify(summary)}\n`);
    else
      io.stdout.write(
        `${summary.images} images to ${out} (${defective} def_front, ${summary.ok} ok_front), ${summary.skipped} skipped\n`,
      );
    return EXIT.OK;
  } catch (err) {
    io.stderr.write(`${errorCode(err)}: ${errorMessage(err)}\n`);
    return EXIT.FAILURE;
  } finally {
    opened.close();
  }
}
