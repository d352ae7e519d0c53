import { loadConfig } from '../config/load.js';
import { errorCode, errorMessage } from '../errors.js';
import { createGpio } from '../io/gpio/index.js';
import type { DigitalOutput } from '../domain/ports.js';
import { createLogger } from '../log.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

const SAFE_OUTPUTS_USAGE = 'usage: lineside safe-outputs --config FILE';

/**
 * `lineside safe-outputs --config FILE`: drive the gate, alarm and heartbeat outputs to their safe (inactive)
 * state and release them. systemd runs it after the daemon ends, however it ended (ExecStopPost), so a crash
 * or a kill never leaves the gate energised.
 */
export async function runSafeOutputs(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(argv, { config: { type: 'string' } });
  if (line.problem !== undefined) return usageError(io, line.problem, SAFE_OUTPUTS_USAGE);
  const file = line.values.config;
  if (file === undefined) return usageError(io, '--config FILE is required', SAFE_OUTPUTS_USAGE);
  let config;
  try {
    ({ config } = loadConfig(file));
  } catch (err) {
    io.stderr.write(`${errorCode(err)}: ${errorMessage(err)}\n`);
    return EXIT.CONFIG;
  }
  const out = io.logStream();
  const logger = createLogger({ level: config.log.level, destination: out as NodeJS.WritableStream }, io.env).child({
    component: 'safe-outputs',
  });
  const gpio = createGpio(config.gpio, { logger });
  const wanted: [string, { line: number; active_low: boolean }][] = [['gate', config.gate]];
  if (config.alarms.output) wanted.push(['alarm', config.alarms.output]);
  if (config.heartbeat) wanted.push(['heartbeat', config.heartbeat]);
  const controller = new AbortController();
  let failed = 0;
  try {
    await gpio.start(controller.signal);
    for (const [name, line] of wanted) {
      const out: DigitalOutput = gpio.output(name, line);
      try {
        await out.start(controller.signal); // start forces the inactive level
        out.write(false);
        logger.info({ output: name, line: line.line }, 'output safe');
      } catch (err) {
        failed += 1;
        logger.error({ code: errorCode(err), output: name, err: errorMessage(err) }, 'could not make output safe');
      } finally {
        await out.stop();
      }
    }
  } catch (err) {
    failed += 1;
    logger.error({ code: errorCode(err), err: errorMessage(err) }, 'could not open GPIO');
  } finally {
    await gpio.stop();
  }
  await new Promise<void>((resolve) => (out.flush ? out.flush(() => resolve()) : resolve()));
  return failed === 0 ? EXIT.OK : EXIT.UNAVAILABLE;
}
