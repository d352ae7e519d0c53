import { loadConfig } from '../config/load.js';
import { errorMessage, isLinesideError } from '../errors.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

const VALIDATE_USAGE = 'usage: lineside validate-config FILE';

/** Exit 0 and say so when FILE is valid; exit 78 with one line per problem (key path and value) when not. */
export async function runValidateConfig(argv: string[], io: CliIo): Promise<number> {
  await Promise.resolve();
  const line = parseCommandLine(argv, {}, { positionals: true });
  if (line.problem !== undefined) return usageError(io, line.problem, VALIDATE_USAGE);
  const [file, ...extra] = line.positionals;
  if (file === undefined) return usageError(io, 'FILE is required', VALIDATE_USAGE);
  if (extra.length > 0) return usageError(io, `unexpected argument: ${extra.join(' ')}`, VALIDATE_USAGE);
  try {
    const { file: absolute } = loadConfig(file);
    io.stdout.write(`${absolute}: valid\n`);
    return EXIT.OK;
  } catch (err) {
    const code = isLinesideError(err) ? err.code : 'LS_INTERNAL';
    for (const line of errorMessage(err).split('\n')) io.stderr.write(`${code}: ${line}\n`);
    return code === 'LS_INTERNAL' ? EXIT.SOFTWARE : EXIT.CONFIG;
  }
}
