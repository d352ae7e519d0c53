import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultDrivers } from '../app.js';
import { inspectorDeps } from '../app/components.js';
import { WorkerInspector } from '../inference/worker-inspector.js';
import { buildEngineChecks } from './build-engine.js';
import { GateThread } from '../io/gpio/gate-thread.js';
import type { DigitalOutput } from '../domain/ports.js';
import { failSafeWarnings } from '../pipeline/fail-safe.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { errorCode, errorMessage, ERROR_CODES } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { brokerCheck, tlsChecks } from './doctor-mqtt.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: Status;
  detail: string;
  code?: string;
  action?: string;
}

const require = createRequire(import.meta.url);
const run = promisify(execFile);

function failure(name: string, err: unknown, status: Status = 'fail'): Check {
  const code = errorCode(err);
  return { name, status, detail: errorMessage(err), code, action: ERROR_CODES[code].action };
}

async function moduleCheck(name: string, mod: string, required: boolean, use?: (m: unknown) => string): Promise<Check> {
  await Promise.resolve();
  try {
    const loaded: unknown = require(mod);
    return { name, status: 'ok', detail: use ? use(loaded) : `${mod} loads` };
  } catch (err) {
    return {
      name,
      status: required ? 'fail' : 'warn',
      detail: `${mod} does not load: ${errorMessage(err).split('\n')[0] ?? ''}`,
    };
  }
}

async function toolCheck(name: string, tool: string): Promise<Check> {
  try {
    const { stdout } = await run(tool, ['--version'], { timeout: 3000 });
    return { name, status: 'ok', detail: stdout.split('\n')[0] ?? tool };
  } catch {
    return {
      name,
      status: 'warn',
      detail: `${tool} not found (apt-get install gpiod): needed only by gpio.type gpiod`,
    };
  }
}

async function environmentChecks(): Promise<Check[]> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const checks: Check[] = [
    {
      name: 'node',
      status: major > 20 || (major === 20 && minor >= 19) ? 'ok' : 'fail',
      detail: `Node ${process.versions.node} on ${process.platform}-${process.arch} (needs >= 20.19)`,
    },
  ];
  checks.push(
    await moduleCheck('onnxruntime', 'onnxruntime-node', true, (m) => {
      const backends = (
        m as { listSupportedBackends: () => { name: string; bundled: boolean }[] }
      ).listSupportedBackends();
      return `execution providers compiled in: ${backends.map((b) => `${b.name}${b.bundled ? '' : ' (needs separate libraries)'}`).join(', ')}`;
    }),
    await moduleCheck('sharp', 'sharp', true, (m) => `libvips ${(m as { versions: { vips: string } }).versions.vips}`),
    await moduleCheck('onoff (sysfs GPIO)', 'onoff', false, () => 'onoff and its epoll addon load'),
    await moduleCheck('gphoto2 (USB cameras)', 'gphoto2', false, () => 'node-gphoto2 native addon loads'),
    await moduleCheck(
      'sd_notify',
      'node-unix-socket',
      false,
      () => 'node-unix-socket loads (systemd-notify fallback otherwise)',
    ),
    await toolCheck('gpiomon', 'gpiomon'),
  );
  const chips = await readdir('/dev').then(
    (names) => names.filter((n) => n.startsWith('gpiochip')),
    () => [],
  );
  checks.push({
    name: 'GPIO chips',
    status: chips.length > 0 ? 'ok' : 'warn',
    detail: chips.length > 0 ? chips.join(', ') : 'no /dev/gpiochip*: only gpio.type sim can run here',
  });
  return checks;
}

async function configChecks(loaded: LoadedConfig, logger: Logger, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const { config } = loaded;
  const checks: Check[] = [{ name: 'config', status: 'ok', detail: `${loaded.file} is valid` }];
  for (const warning of failSafeWarnings(config))
    checks.push({ name: 'fail-safe wiring', status: 'warn', detail: warning });
  const signal = AbortSignal.timeout(60_000);
  checks.push(...(await modelChecks(loaded, logger, signal)));
  checks.push(await cameraCheck(loaded, logger, env, signal));
  checks.push(await gpioCheck(config, logger, signal));
  if (config.gate.timer === 'thread') checks.push(await gateThreadCheck(config, logger));
  checks.push(await outboxCheck(loaded));
  checks.push(...(await tlsChecks(loaded, env)));
  checks.push(await brokerCheck(loaded, env, logger));
  return checks;
}

/** The model bundle verified and loaded, the execution provider actually in use, and the self-test before arming. */
async function modelChecks(loaded: LoadedConfig, logger: Logger, signal: AbortSignal): Promise<Check[]> {
  const { config } = loaded;
  const inspector = new WorkerInspector(inspectorDeps(loaded, logger));
  try {
    await inspector.start(signal);
    const info = inspector.info;
    const requested = config.inference.execution_providers.join(' > ');
    const test = inspector.selfTest;
    const probes =
      test === undefined || test.tolerance === undefined
        ? 'no probes in the bundle'
        : `${test.probes} probes within ${test.tolerance} (largest drift ${test.maxProbeDrift.toPrecision(3)})`;
    const golden =
      config.model.selftest_dir === undefined ? 'model.selftest_dir unset' : `${test?.goldenParts} golden parts right`;
    return [
      {
        name: 'model',
        status: 'ok',
        detail: `${info.name} ${info.version}, sha256 ${info.sha256.slice(0, 12)}... verified, threshold ${info.threshold}`,
      },
      {
        name: 'execution provider',
        status: info.executionProvider === config.inference.execution_providers[0] ? 'ok' : 'warn',
        detail: `in use: ${info.executionProvider} (requested ${requested})`,
      },
      { name: 'self-test', status: 'ok', detail: `on ${info.executionProvider}: ${probes}; ${golden}` },
    ];
  } catch (err) {
    return [failure(errorCode(err) === 'LS_MODEL_SELFTEST' ? 'self-test' : 'model', err)];
  } finally {
    await inspector.stop();
  }
}

/** One capture from the configured camera. */
async function cameraCheck(
  loaded: LoadedConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
): Promise<Check> {
  const { config, baseDir } = loaded;
  const camera = defaultDrivers.camera(config.camera, { logger, baseDir, env });
  try {
    await camera.start(signal);
    const image = await camera.capture(AbortSignal.timeout(config.camera.timeout_ms));
    const detail = `${config.camera.type}: captured ${image.data.length} bytes from ${image.source}`;
    return { name: 'camera', status: 'ok', detail };
  } catch (err) {
    return failure('camera', err);
  } finally {
    await camera.stop();
  }
}

async function gpioCheck(config: LoadedConfig['config'], logger: Logger, signal: AbortSignal): Promise<Check> {
  const gpio = defaultDrivers.gpio(config.gpio, { logger });
  try {
    await gpio.start(signal);
    return { name: 'gpio', status: 'ok', detail: `${config.gpio.type} driver opens` };
  } catch (err) {
    return failure('gpio', err);
  } finally {
    await gpio.stop();
  }
}

/** The outbox lives in the line record's database, in record.dir (mqtt.outbox_dir is only read to migrate it). */
async function outboxCheck(loaded: LoadedConfig): Promise<Check> {
  const outbox = path.resolve(loaded.baseDir, loaded.config.record.dir);
  try {
    await mkdir(outbox, { recursive: true });
    await access(outbox, constants.W_OK);
    return { name: 'mqtt outbox', status: 'ok', detail: `${outbox} (line record) is writable` };
  } catch (err) {
    return {
      name: 'mqtt outbox',
      status: 'fail',
      detail: `${outbox}: ${errorMessage(err)}`,
      code: 'LS_MQTT_OUTBOX',
      action: ERROR_CODES.LS_MQTT_OUTBOX.action,
    };
  }
}

/**
 * Starts the gate threads as the daemon would (priority, pinning) against an in-memory wire, never the real gate
 * line: a running daemon may hold it, and opening it would force it to its safe state.
 */
async function gateThreadCheck(config: LoadedConfig['config'], logger: Logger): Promise<Check> {
  const name = 'gate timing';
  if (config.gpio.type === 'gpiod') {
    return {
      name,
      status: 'warn',
      detail:
        'gate.timer: thread is not available with gpio.type gpiod (outputs switch through a supervisor process); the event-loop timer (gate.hold_ms) is used',
    };
  }
  const wire = new SharedArrayBuffer(4);
  const probe: DigitalOutput = {
    name: 'gate (doctor probe)',
    active: false,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    write: () => undefined,
    forceSafe: () => undefined,
    offThread: () => ({ kind: 'shared', wire }),
  };
  const { rt_priority: rtPriority, threads, spin_ms: spinMs } = config.gate;
  const thread = new GateThread({ output: probe, logger, spinMs, rtPriority, threads });
  try {
    await thread.start(new AbortController().signal);
    const where = `${thread.threadCount} gate thread${thread.threadCount === 1 ? '' : 's'}${thread.cpus.length > 0 ? ` on CPUs ${thread.cpus.join(', ')}` : ''}`;
    const refusal = thread.refusal;
    if (refusal !== undefined) {
      return {
        name,
        status: 'warn',
        detail: `${where}, but SCHED_FIFO ${rtPriority} or CPU pinning was refused: ${refusal}`,
        action: `Grant LimitRTPRIO=${rtPriority} (systemd/lineside.service does), or set gate.rt_priority: 0 to accept less precise timing on a busy CPU.`,
      };
    }
    const fewer =
      thread.threadCount < threads
        ? ` (gate.threads ${threads}: capped at ${thread.threadCount}, one CPU stays free for inference)`
        : '';
    return {
      name,
      status: 'ok',
      detail: `${where}, ${rtPriority > 0 ? `SCHED_FIFO ${rtPriority}` : 'normal priority (gate.rt_priority: 0)'}${fewer}`,
    };
  } catch (err) {
    return failure(name, err);
  } finally {
    await thread.stop();
  }
}

const DOCTOR_USAGE = 'usage: lineside doctor [--config FILE] [--json] [--build-engine (needs --config)]';

/**
 * `lineside doctor [--config FILE] [--json]`: says what is wrong with this installation, and what to do.
 * `--build-engine` builds the TensorRT engine cache ahead of the daemon's start instead (src/cli/build-engine.ts).
 */
export async function runDoctor(argv: string[], io: CliIo): Promise<number> {
  const spec = { config: { type: 'string' }, json: { type: 'boolean' }, 'build-engine': { type: 'boolean' } } as const;
  const line = parseCommandLine(argv, spec);
  if (line.problem !== undefined) return usageError(io, line.problem, DOCTOR_USAGE);
  const flags = line.values;
  const buildEngine = flags['build-engine'] === true;
  if (buildEngine && flags.config === undefined)
    return usageError(io, '--build-engine needs --config FILE', DOCTOR_USAGE);
  const checks = buildEngine ? [] : await environmentChecks();
  if (flags.config !== undefined) {
    try {
      const loaded = loadConfig(flags.config);
      const logger = createLogger({ level: 'silent' }, io.env);
      checks.push(...(await (buildEngine ? buildEngineChecks(loaded, logger) : configChecks(loaded, logger, io.env))));
    } catch (err) {
      checks.push(failure('config', err));
    }
  } else {
    checks.push({
      name: 'config',
      status: 'skip',
      detail: 'no --config given: model, camera, GPIO and broker not checked',
    });
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify({ ok: failed === 0, checks })}\n`);
  } else {
    for (const c of checks) {
      io.stdout.write(
        `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(22)} ${c.detail}${c.code ? ` [${c.code}]` : ''}\n`,
      );
      if (c.action && c.status !== 'ok') io.stdout.write(`      ${''.padEnd(22)} -> ${c.action}\n`);
    }
    io.stdout.write(failed === 0 ? 'doctor: nothing is wrong\n' : `doctor: ${failed} problem(s) must be fixed\n`);
  }
  return failed === 0 ? EXIT.OK : EXIT.FAILURE;
}
