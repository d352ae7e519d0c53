/**
 * The only module that touches `process`: argv, signals, exit codes. Every command gets a CliIo and returns
 * its exit status.
 */
import { EXIT, type CliIo } from './cli/io.js';
import { errorMessage } from './errors.js';
import { stdoutDestination, writeCrashRecord, type LogDestination } from './log.js';

const USAGE = `usage: lineside <command> [options]

commands:
  run --config FILE [--max-parts N]   run the inspection daemon
  validate-config FILE                check a config file (exit 0 valid, 78 invalid)
  doctor [--config FILE]              check the installation, model, drivers and broker; say what is wrong
  classify PATH... [--json]           classify image files or folders
  eval --data DIR [--json]            evaluate the model on DIR/def_front and DIR/ok_front
  export-tensors --data DIR --out F   write the preprocessed training set (training/README.md)
  safe-outputs --config FILE          drive every configured output to its safe state (systemd ExecStopPost)
  help                                this text

exit status: 0 ok, 1 failure, 2 some inputs failed, 64 usage, 69 hardware/service unavailable,
             70 internal error, 78 configuration (or model) invalid`;

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** stdout's log writer, created on first use: a crash flushes it before its own last line. */
let logDestination: LogDestination | undefined;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./cli/run.js')).runDaemon,
  'validate-config': async () => (await import('./cli/validate-config.js')).runValidateConfig,
  doctor: async () => (await import('./cli/doctor.js')).runDoctor,
  classify: async () => (await import('./cli/classify.js')).runClassify,
  eval: async () => (await import('./cli/eval.js')).runEval,
  'export-tensors': async () => (await import('./cli/export-tensors.js')).runExportTensors,
  'safe-outputs': async () => (await import('./cli/safe-outputs.js')).runSafeOutputs,
};

async function main(): Promise<number> {
  const [name, ...argv] = process.argv.slice(2);
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
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
    logStream: () => (logDestination ??= stdoutDestination()),
  };
  const command = await load();
  return command(argv, io);
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
    process.stderr.write(`lineside: internal error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
    process.exitCode = EXIT.SOFTWARE;
  },
);
