import type { CliIo } from './io.js';

export const USAGE = `usage: lineside <command> [options]

commands:
  run --config FILE [--max-parts N] [--log-format json|pretty]
                                      run the inspection daemon
  validate-config FILE                check a config file (exit 0 valid, 78 invalid)
  doctor [--config FILE]              check the installation, model, drivers and broker; say what is wrong
  classify PATH... [--json]           classify image files or folders
  eval --data DIR [--json]            evaluate the model on DIR/def_front and DIR/ok_front
  export-tensors --data DIR --out F   write the preprocessed training set (training/README.md)
  safe-outputs --config FILE          drive every configured output to its safe state (systemd ExecStopPost)
  bench [--json] [--quick]            measure latency, sustained rate, gate error, memory, and the Python baseline
  history [--since T] [--decision D]  the verdict history, one row per part and a total (--json, --csv)
  label PART_ID defective|ok          record a human verdict on a part (--by NAME)
  export --since T --out DIR          archived images in the training layout, with a manifest
  status [--config FILE] [--json]     the running daemon's health, counters and alarms (its HTTP API)
  ack [KIND|ID] [--by NAME]           acknowledge alarms on the running daemon (all when none is named)
  help                                this text

exit status: 0 ok, 1 failure, 2 some inputs failed, 64 usage, 69 hardware/service unavailable,
             70 internal error, 78 configuration (or model) invalid
a second SIGINT/SIGTERM (or a stop past its limit) drives the outputs safe and ends lineside by that signal`;

export interface Command {
  run(argv: string[], io: CliIo): Promise<number>;
  /** The daemon's: its outputs to safe state at once, before an exit that cannot wait for its stop. */
  forceSafe?(): { safe: string[]; failed: string[] } | null;
  /** The daemon's: how long its orderly stop may take, once its config is loaded. */
  stopLimitMs?(): number | null;
}

/**
 * Every `lineside <command>`, loaded on demand so `validate-config` never loads onnxruntime. The docs may only tell
 * the operator to run what is here (tests/unit/cli/commands.test.ts checks them).
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./run.js')).createDaemon(),
  'validate-config': async () => ({ run: (await import('./validate-config.js')).runValidateConfig }),
  doctor: async () => ({ run: (await import('./doctor.js')).runDoctor }),
  classify: async () => ({ run: (await import('./classify.js')).runClassify }),
  eval: async () => ({ run: (await import('./eval.js')).runEval }),
  'export-tensors': async () => ({ run: (await import('./export-tensors.js')).runExportTensors }),
  'safe-outputs': async () => ({ run: (await import('./safe-outputs.js')).runSafeOutputs }),
  bench: async () => ({ run: (await import('./bench.js')).runBenchCommand }),
  history: async () => ({ run: (await import('./history.js')).runHistory }),
  label: async () => ({ run: (await import('./label.js')).runLabel }),
  export: async () => ({ run: (await import('./export.js')).runExport }),
  status: async () => ({ run: (await import('./status.js')).runStatus }),
  ack: async () => ({ run: (await import('./ack.js')).runAck }),
};

/** Handled by main.ts itself (the usage text). */
export const HELP_COMMANDS = ['help', '--help', '-h'] as const;
