/**
 * The only module that touches `process`: argv, signals, exit codes. Every command gets a CliIo and returns
 * its exit status.
 */
import { COMMANDS, HELP_COMMANDS, USAGE, type Command } from './cli/commands.js';
import { EXIT, type CliIo } from './cli/io.js';
import { writeSync } from 'node:fs';
import { errorMessage } from './errors.js';
import { stdoutDestination, writeCrashRecord, type LogDestination } from './log.js';

/** stdout's log writer, created on first use: a crash flushes it before its own last line. */
let logDestination: LogDestination | undefined;

/**
 * Ends the process now, the command's outputs driven safe first. Not process.exit(): it waits for libuv's pool
 * threads, and one stuck in a read holds it for good. The signal's default action cannot wait for anything.
 */
function exitNow(sig: NodeJS.Signals, why: string, command: Command): never {
  let outputs = '';
  try {
    const result = command.forceSafe?.();
    if (result) {
      outputs = `outputs safe (${result.safe.join(', ') || 'none open'})${result.failed.length > 0 ? `, NOT safe: ${result.failed.join('; ')}` : ''}; `;
    }
  } catch (err) {
    outputs = `could not force the outputs safe: ${errorMessage(err)}; `;
  }
  try {
    writeSync(2, `lineside: ${why}: ${outputs}exiting at once\n`);
  } finally {
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
    process.exit(EXIT.FAILURE); // only if the signal was somehow not delivered at once
  }
}

async function main(): Promise<number> {
  const [name, ...argv] = process.argv.slice(2);
  if (name === undefined || (HELP_COMMANDS as readonly string[]).includes(name)) {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`lineside: unknown command "${name}"\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  const command = await load();
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    // A second Ctrl-C means "now": the first one already started a bounded, orderly stop.
    if (signals > 1) exitNow(sig, `second ${sig}`, command);
    controller.abort(new Error(sig));
    // The orderly stop is bounded by design; this makes sure of it, before systemd's TimeoutStopSec (SIGKILL).
    const limitMs = command.stopLimitMs?.() ?? null;
    if (limitMs !== null)
      setTimeout(() => exitNow(sig, `stop not complete ${limitMs} ms after ${sig}`, command), limitMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stderr.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    env: process.env,
    signal: controller.signal,
    logStream: () => (logDestination ??= stdoutDestination()),
  };
  return command.run(argv, io);
}

// Never swallowed: a bug leaves the log lines written so far and then one JSON line with a code for journalctl,
// in that order, then the process ends non-zero so systemd restarts it, and ExecStopPost drives the gate safe.
function die(kind: string, err: unknown): never {
  try {
    writeCrashRecord(logDestination, kind, err, process.env);
  } finally {
    process.exit(EXIT.SOFTWARE);
  }
}
process.on('uncaughtException', (err) => die('uncaughtException', err));
process.on('unhandledRejection', (err) => die('unhandledRejection', err));

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `lineside: internal error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`,
    );
    process.exitCode = EXIT.SOFTWARE;
  },
);
