import type { CliIo } from './io.js';

export const USAGE = `usage: lineside <command> [options]

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

export type Command = (argv: string[], io: CliIo) => Promise<number>;

/**
 * Every `lineside <command>`, loaded on demand so `validate-config` never loads onnxruntime. The docs may only tell
 * the operator to run what is here (tests/unit/cli/commands.test.ts checks them).
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./run.js')).runDaemon,
  'validate-config': async () => (await import('./validate-config.js')).runValidateConfig,
  doctor: async () => (await import('./doctor.js')).runDoctor,
  classify: async () => (await import('./classify.js')).runClassify,
  eval: async () => (await import('./eval.js')).runEval,
  'export-tensors': async () => (await import('./export-tensors.js')).runExportTensors,
  'safe-outputs': async () => (await import('./safe-outputs.js')).runSafeOutputs,
};

/** Handled by main.ts itself (the usage text). */
export const HELP_COMMANDS = ['help', '--help', '-h'] as const;
