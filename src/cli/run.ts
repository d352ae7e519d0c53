import { createApp, type App, type AppDrivers } from '../app.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { PipelineConfig } from '../config/sections/line.js';
import { errorCode, errorMessage, type ErrorCode } from '../errors.js';
import { createLogger, logFormat, type LogFormat } from '../log.js';
import { createNotifier } from '../notify.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

/** Start-up failures a restart cannot fix: systemd's RestartPreventExitStatus=78 keeps the unit down. */
const NOT_RESTARTABLE: ReadonlySet<ErrorCode> = new Set([
  'LS_CONFIG_INVALID',
  'LS_CONFIG_UNREADABLE',
  'LS_MODEL_MISSING',
  'LS_MODEL_CHECKSUM',
  'LS_MODEL_INVALID',
  'LS_EP_UNAVAILABLE',
  'LS_MODEL_SELFTEST',
]);

const HARDWARE: ReadonlySet<ErrorCode> = new Set([
  'LS_CAMERA_NOT_FOUND',
  'LS_GPIO_UNAVAILABLE',
  'LS_MQTT_OUTBOX',
  'LS_MQTT_CONNECT',
  'LS_HTTP_UNAVAILABLE',
]);

function startFailureExit(code: ErrorCode): number {
  if (NOT_RESTARTABLE.has(code)) return EXIT.CONFIG;
  if (HARDWARE.has(code)) return EXIT.UNAVAILABLE;
  return EXIT.SOFTWARE;
}

const RUN_USAGE =
  'usage: lineside run --config FILE [--max-parts N] [--log-format json|pretty]   (N a positive integer; ' +
  'logs are pretty on a terminal, JSON under systemd or in a pipe)';

interface RunArgs {
  configFile: string;
  maxParts: number | undefined;
  logFormat: LogFormat | undefined;
}

/** --config FILE (required), --max-parts N, --log-format; a usage problem naming the flag instead when wrong. */
function parseRunArgs(argv: readonly string[]): RunArgs | string {
  const line = parseCommandLine(argv, {
    config: { type: 'string' },
    'max-parts': { type: 'string' },
    'log-format': { type: 'string' },
  });
  if (line.problem !== undefined) return line.problem;
  const { config, 'max-parts': maxPartsText, 'log-format': format } = line.values;
  if (config === undefined) return '--config FILE is required';
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    return `--log-format: must be json or pretty (got '${format}')`;
  if (maxPartsText === undefined) return { configFile: config, maxParts: undefined, logFormat: format };
  const maxParts = Number(maxPartsText);
  if (!(Number.isInteger(maxParts) && maxParts > 0))
    return `--max-parts: must be a positive integer (got '${maxPartsText}')`;
  return { configFile: config, maxParts, logFormat: format };
}

/**
 * An orderly stop takes at most pipeline.drain_ms, then MQTT's bounded final send (3 s), then the components'
 * own bounded stops; the margin covers the last two. systemd/lineside.service's TimeoutStopSec is above this for
 * the largest drain_ms allowed (a test checks it), so the daemon's own limit acts before systemd's SIGKILL.
 */
const STOP_MARGIN_MS = 10_000;

export function stopLimitMs(pipeline: PipelineConfig): number {
  return pipeline.drain_ms + STOP_MARGIN_MS;
}

/** The daemon command, and what main.ts needs when it must end the process without waiting for the stop. */
export interface Daemon {
  run(argv: string[], io: CliIo): Promise<number>;
  /** Outputs to their safe state at once (App.forceSafe); null before the app exists. */
  forceSafe(): { safe: string[]; failed: string[] } | null;
  /** How long an orderly stop may take with the loaded config (stopLimitMs); null before it is loaded. */
  stopLimitMs(): number | null;
}

export function createDaemon(drivers?: Partial<AppDrivers>): Daemon {
  let app: App | undefined;
  let limitMs: number | null = null;
  return {
    run: (argv, io) =>
      runDaemon(argv, io, {
        ...(drivers ? { drivers } : {}),
        onApp: (created, config) => {
          app = created;
          limitMs = stopLimitMs(config.pipeline);
        },
      }),
    forceSafe: () => app?.forceSafe() ?? null,
    stopLimitMs: () => limitMs,
  };
}

interface RunOptions {
  drivers?: Partial<AppDrivers>;
  /** Called once the app is built, before it starts. */
  onApp?: (app: App, config: Config) => void;
}

/** `lineside run --config FILE [--max-parts N]`: the daemon. The last stdout line is the JSON run summary. */
export async function runDaemon(argv: string[], io: CliIo, options: RunOptions = {}): Promise<number> {
  const args = parseRunArgs(argv);
  if (typeof args === 'string') return usageError(io, args, RUN_USAGE);
  const { configFile, maxParts } = args;
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(configFile);
  } catch (err) {
    // Before the logger exists (its level is config), and before any hardware is touched.
    for (const line of errorMessage(err).split('\n')) io.stderr.write(`${errorCode(err)}: ${line}\n`);
    return EXIT.CONFIG;
  }
  // Logs and the closing summary share one ordered stdout stream, so the summary really is the last line.
  const out = io.logStream();
  const format = logFormat(args.logFormat, io.stdoutIsTTY ?? false, io.env);
  const logger = createLogger(
    { level: loaded.config.log.level, destination: out as NodeJS.WritableStream, format },
    io.env,
  );
  const notifier = createNotifier(io.env, logger);
  const { drivers } = options;
  const app = createApp({ loaded, logger, env: io.env, notifier, ...(drivers ? { drivers } : {}), maxParts });
  options.onApp?.(app, loaded.config);

  let exitCode: number = EXIT.OK;
  try {
    await app.start(io.signal);
    if (io.signal.aborted) throw io.signal.reason;
    await Promise.race([
      app.done,
      new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true })),
    ]);
  } catch (err) {
    const code = errorCode(err);
    if (io.signal.aborted) {
      logger.info({ reason: errorMessage(io.signal.reason) }, 'stopped during start');
    } else {
      logger.fatal(
        {
          code,
          err: errorMessage(err),
          cause: err instanceof Error && err.cause ? errorMessage(err.cause) : undefined,
        },
        `cannot start: ${errorMessage(err)}`,
      );
      exitCode = startFailureExit(code);
    }
  }
  await app.stop();
  notifier.close();
  const summary = app.summary();
  logger.info({ summary }, 'exit');
  // Under journald the summary, like every log line, carries its priority (info); SyslogLevel= is warning.
  out.write(`${io.env.JOURNAL_STREAM ? '<6>' : ''}${JSON.stringify(summary)}\n`);
  // Not flushSync: it can overtake an asynchronous write still in flight and reorder the last lines.
  await new Promise<void>((resolve) => (out.flush ? out.flush(() => resolve()) : resolve()));
  return exitCode;
}
