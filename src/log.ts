import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** syslog priorities journald reads from a `<N>` line prefix (SyslogLevelPrefix=yes, the default). */
const JOURNAL_PRIORITY: ReadonlyArray<[LevelWithSilent, number]> = [
  ['trace', 7],
  ['debug', 7],
  ['info', 6],
  ['warn', 4],
  ['error', 3],
  ['fatal', 2],
];

/** Fields that may carry secrets, wherever they appear. */
const REDACT = ['password', '*.password', 'config.mqtt.password', 'headers.authorization', '*.headers.authorization'];

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Destination; defaults to stdout (asynchronous, so a slow terminal or journald never stalls the gate). */
  destination?: NodeJS.WritableStream;
  /** Prefix each line with its syslog priority; default: when JOURNAL_STREAM is set (running under systemd). */
  journal?: boolean;
}

/** stdout, asynchronous: a slow terminal or journald never stalls the event loop that times the gate. */
export function stdoutDestination(): pino.DestinationStream & { flushSync(): void; write(line: string): boolean } {
  return pino.destination({ dest: 1, sync: false, minLength: 0 });
}

export function createLogger(options: LoggerOptions, env: NodeJS.ProcessEnv = process.env): Logger {
  const destination = options.destination ?? stdoutDestination();
  const base = { level: options.level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  const journal = options.journal ?? Boolean(env.JOURNAL_STREAM);
  if (!journal) return pino(base, destination);
  const streams = JOURNAL_PRIORITY.map(([level, priority]) => ({
    level: level as pino.Level,
    stream: { write: (line: string) => destination.write(`<${priority}>${line}`) },
  }));
  return pino(base, pino.multistream(streams, { dedupe: true }));
}
