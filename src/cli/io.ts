import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What a CLI command gets instead of touching `process` itself (only src/main.ts does that). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  /** stdout is a terminal: the daemon's logs are pretty unless --log-format says otherwise. Default false. */
  stdoutIsTTY?: boolean;
  env: NodeJS.ProcessEnv;
  /** Aborted when SIGINT/SIGTERM arrives. */
  signal: AbortSignal;
  /**
   * The stream the daemon's JSON log lines and its closing summary share (stdout, asynchronous, in order).
   * Tests give a memory stream.
   */
  logStream: () => LogStream;
}

export interface LogStream {
  write(line: string): unknown;
  /** Calls back once everything written so far has reached the file descriptor (stdout's asynchronous writer). */
  flush?(callback: (err?: Error) => void): void;
}

/** sysexits(3) codes used across commands. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  PARTIAL: 2,
  USAGE: 64,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CONFIG: 78,
} as const;

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>
>;

/** What a command line turned into: its values and positional arguments, or the usage problem to print. */
export type CommandLine<O extends OptionsConfig> =
  { values: Parsed<O>['values']; positionals: string[]; problem?: undefined } | { problem: string };

/**
 * node:util parseArgs, strict: an unknown option, a missing option value or (with `positionals: false`) a
 * stray argument becomes `problem`, a message that names the offending argument, for the command to
 * print above its usage text before it exits with EXIT.USAGE.
 */
export function parseCommandLine<const O extends OptionsConfig>(
  argv: readonly string[],
  options: O,
  { positionals = false }: { positionals?: boolean } = {},
): CommandLine<O> {
  try {
    const parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    // Node's own wording names the argument ("Unknown option '--bogus'", "Option '--config <value>' argument missing").
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw err;
    return { problem: (err as Error).message };
  }
}

/** Write a usage problem and the command's usage text to stderr; returns EXIT.USAGE for the caller to return. */
export function usageError(io: Pick<CliIo, 'stderr'>, problem: string, usage: string): number {
  io.stderr.write(`${problem}\n${usage.endsWith('\n') ? usage : `${usage}\n`}`);
  return EXIT.USAGE;
}
