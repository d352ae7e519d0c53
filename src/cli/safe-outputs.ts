import { loadConfig } from '../config/load.js';
import { errorCode, errorMessage } from '../errors.js';
import { createGpio } from '../io/gpio/index.js';
import type { DigitalOutput } from '../domain/ports.js';
import { createLogger } from '../log.js';
import { EXIT, parseFlags, type CliIo } from './io.js';

/**
 * `lineside safe-outputs --config FILE`: drive the gate, alarm and heartbeat outputs to their safe (inactive)
 * state and release them. systemd runs it after the daemon ends, however it ended (ExecStopPost), so a crash
 * or a kill never leaves the gate energised.
 */
export async function runSafeOutputs(argv: string[], io: CliIo): Promise<number> {
  const { flags, unknown } = parseFlags(argv, { strings: ['config'] });
  if (unknown.length > 0 || typeof flags.config !== 'string') {
    io.stderr.write('usage: lineside safe-outputs --config FILE\n');
    return EXIT.USAGE;
  }
  let config;
  try {
    ({ config } = loadConfig(flags.config));
  } catch (err) {
    io.stderr.write(`${errorCode(err)}: ${errorMessage(err)}\n`);
    return EXIT.CONFIG;
  }
  const out = io.logStream();
  const logger = createLogger({ level: config.log.level, destination: out as NodeJS.WritableStream }, io.env).child({ component: 'safe-outputs' });
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
