import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { errorMessage } from './errors.js';

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
  /** JSON lines (journald, scripts) or pretty lines for a person at a terminal (logFormat() chooses). Default json. */
  format?: LogFormat;
}

export type LogFormat = 'json' | 'pretty';

/**
 * Pretty on a terminal (time, level word, component, message), JSON under systemd (JOURNAL_STREAM set) and
 * whenever stdout is not a terminal; an explicit --log-format wins.
 */
export function logFormat(
  requested: LogFormat | undefined,
  stdoutIsTTY: boolean,
  env: Readonly<Record<string, string | undefined>>,
): LogFormat {
  if (requested !== undefined) return requested;
  return stdoutIsTTY && !env.JOURNAL_STREAM ? 'pretty' : 'json';
}

/** pino-pretty in-process, writing to the daemon's own stdout writer, so the closing summary stays last. */
function prettyStream(
  destination: NodeJS.WritableStream | pino.DestinationStream,
  colorize: boolean,
): pino.DestinationStream {
  return pretty({
    destination,
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    singleLine: true,
  });
}

/** The daemon's stdout writer: its lines are buffered in memory while a write is in flight. */
export type LogDestination = pino.DestinationStream & { flushSync(): void; write(line: string): boolean };

/** stdout, asynchronous: a slow terminal or journald never stalls the event loop that times the gate. */
export function stdoutDestination(): LogDestination {
  return pino.destination({ dest: 1, sync: false, minLength: 0 });
}

/** How long a crashing process keeps trying to write its last line into a full pipe (journald behind). */
const LAST_WORDS_PATIENCE_MS = 2000;

/**
 * The last words of a crashing process, written synchronously (no event loop turn is left): first every log
 * line still buffered in `destination`, then one fatal JSON line with code LS_INTERNAL, so that it is the last
 * line on stdout. Writing the crash line directly, as before, put it ahead of the buffered lines (pino flushes
 * those only at 'exit'), and lost it when stdout was a full pipe (EAGAIN). A write already handed to libuv's
 * thread pool before the crash cannot be taken back; it lands on its own.
 */
export function writeCrashRecord(
  destination: LogDestination | undefined,
  kind: string,
  err: unknown,
  env: NodeJS.ProcessEnv,
): void {
  const record = {
    level: 60,
    time: Date.now(),
    pid: process.pid,
    code: 'LS_INTERNAL',
    kind,
    err: err instanceof Error ? err.stack : String(err),
    msg: `${kind}: ${errorMessage(err)}`,
  };
  try {
    destination?.flushSync();
  } finally {
    // Under journald, the priority of a fatal line (crit), as createLogger writes it.
    writeAllSync(1, `${env.JOURNAL_STREAM ? '<2>' : ''}${JSON.stringify(record)}\n`, LAST_WORDS_PATIENCE_MS);
  }
}

/** writeSync until all of `text` is out, waiting out EAGAIN (a non-blocking pipe that is full) up to patienceMs. */
function writeAllSync(fd: number, text: string, patienceMs: number): void {
  const buf = Buffer.from(text);
  const giveUpAt = Date.now() + patienceMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let offset = 0;
  while (offset < buf.length) {
    try {
      offset += writeSync(fd, buf, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > giveUpAt) throw err;
      Atomics.wait(nap, 0, 0, 10);
    }
  }
}

export function createLogger(options: LoggerOptions, env: NodeJS.ProcessEnv = process.env): Logger {
  const destination = options.destination ?? stdoutDestination();
  const base = { level: options.level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  if (options.format === 'pretty') {
    return pino(base, prettyStream(destination, pretty.isColorSupported && !env.NO_COLOR));
  }
  const journal = options.journal ?? Boolean(env.JOURNAL_STREAM);
  if (!journal) return pino(base, destination);
  const streams = JOURNAL_PRIORITY.map(([level, priority]) => ({
    level: level as pino.Level,
    stream: { write: (line: string) => destination.write(`<${priority}>${line}`) },
  }));
  return pino(base, pino.multistream(streams, { dedupe: true }));
}
