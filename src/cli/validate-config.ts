import { loadConfig } from '../config/load.js';
import { errorMessage, isLinesideError } from '../errors.js';
import { EXIT, type CliIo } from './io.js';

/** Exit 0 and say so when FILE is valid; exit 78 with one line per problem (key path and value) when not. */
export async function runValidateConfig(argv: string[], io: CliIo): Promise<number> {
  await Promise.resolve();
  const file = argv[0];
  if (file === undefined || argv.length > 1) {
    io.stderr.write('usage: lineside validate-config FILE\n');
    return EXIT.USAGE;
  }
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
