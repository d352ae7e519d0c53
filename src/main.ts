/**
 * The only module that touches `process`: argv, signals, exit codes. Every command gets a CliIo and returns
 * its exit status.
 */
import { COMMANDS, HELP_COMMANDS, USAGE } from './cli/commands.js';
import { EXIT, type CliIo } from './cli/io.js';
import { writeSync } from 'node:fs';
import { errorMessage } from './errors.js';
import { stdoutDestination } from './log.js';

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
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    // A second Ctrl-C means "now": the first one already started a bounded, orderly stop.
    if (signals > 1) {
      process.stderr.write(`lineside: second ${sig}, exiting at once\n`);
      process.exit(EXIT.FAILURE);
    }
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    signal: controller.signal,
    logStream: stdoutDestination,
  };
  const command = await load();
  return command(argv, io);
}

// Never swallowed: a bug leaves one JSON line with a code for journalctl, then the process ends non-zero so
// systemd restarts it, and ExecStopPost drives the gate safe.
function die(kind: string, err: unknown): never {
  const line = { level: 60, time: Date.now(), pid: process.pid, code: 'LS_INTERNAL', kind, err: err instanceof Error ? err.stack : String(err), msg: `${kind}: ${errorMessage(err)}` };
  try {
    writeSync(1, `${JSON.stringify(line)}\n`);
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
    process.stderr.write(`lineside: internal error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
    process.exitCode = EXIT.SOFTWARE;
  },
);
