/** What a CLI command gets instead of touching `process` itself (only src/main.ts does that). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
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

/** A tiny flag parser: --flag value, --flag=value, --bool; positional arguments kept in order. */
export function parseFlags(
  argv: readonly string[],
  spec: { strings?: readonly string[]; booleans?: readonly string[] },
): { flags: Record<string, string | boolean>; positional: string[]; unknown: string[] } {
  const strings = new Set(spec.strings ?? []);
  const booleans = new Set(spec.booleans ?? []);
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (booleans.has(name) && eq === -1) flags[name] = true;
    else if (strings.has(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) unknown.push(arg);
      else flags[name] = value;
    } else unknown.push(arg);
  }
  return { flags, positional, unknown };
}
