import { randomUUID } from 'node:crypto';
import { AlarmDesk } from './app/commands.js';
import { AppComponents, type AppDrivers } from './app/components.js';
import { ComponentHealth, lineHealth } from './app/health.js';
import { PartSink } from './app/parts.js';
import { StageRunner } from './app/stages.js';
import { runSummary, type RunSummary } from './app/summary.js';
import { watchdogStage } from './app/watchdog.js';
import { createCamera } from './camera/index.js';
import type { LoadedConfig } from './config/load.js';
import type { PartRecord } from './domain/part.js';
import type { CapturedImage, ModelInfo } from './domain/ports.js';
import { WorkerInspector } from './inference/worker-inspector.js';
import { createGpio } from './io/gpio/index.js';
import type { GpioDriver } from './io/gpio/types.js';
import { createMqtt, type Mqtt } from './io/mqtt/index.js';
import type { Logger } from './log.js';
import type { Notifier } from './notify.js';
import type { LineRecordView } from './domain/record.js';
import type { AlarmRecord } from './pipeline/alarms.js';
import { failSafeWarnings } from './pipeline/fail-safe.js';

export type { AppDrivers } from './app/components.js';
export type { RunSummary } from './app/summary.js';

export const defaultDrivers: AppDrivers = {
  camera: createCamera,
  gpio: createGpio,
  inspector: (deps) => new WorkerInspector(deps),
  mqtt: createMqtt,
};

export interface AppDeps {
  loaded: LoadedConfig;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  notifier?: Notifier;
  drivers?: Partial<AppDrivers>;
  /** Stop accepting triggers after this many parts; `done` resolves once they are all complete. */
  maxParts?: number;
}

export interface App {
  /**
   * Config is already valid. Model -> camera -> GPIO (gate safe) -> MQTT (no wait) -> arm -> READY, as stages
   * (src/app/components.ts). When one fails, those already started are stopped (outputs safe) before this
   * rejects with its error; on abort, it rejects with the signal's reason.
   */
  start(signal: AbortSignal): Promise<void>;
  /** Disarm, drain in-flight parts within pipeline.drain_ms, gate safe, close everything. Never throws. */
  stop(): Promise<void>;
  /**
   * For an exit that cannot wait for stop(): every output to its safe state now, synchronously (planned gate edges
   * withdrawn first). Never throws; says which outputs are safe and which could not be made so.
   */
  forceSafe(): { safe: string[]; failed: string[] };
  /** Resolves when `maxParts` parts are complete (never, without maxParts). */
  readonly done: Promise<void>;
  summary(): RunSummary;
  /** Acknowledge an alarm by id, or all. */
  acknowledge(idOrAll: string, by: string): AlarmRecord[];
  /** The GPIO driver (tests drive the sim conveyor through it). Available after start. */
  readonly gpio: GpioDriver | undefined;
  readonly mqtt: Mqtt | undefined;
  /**
   * The line record: history, archived images, labels and its storage health (for /healthz). Undefined before
   * start, and when it could not be opened (the daemon then runs without it, after an LS_RECORD_IO error line).
   */
  readonly record: LineRecordView | undefined;
  /** Each completed part, with the camera's image when there was one (the line record, the operator view). */
  onPart(listener: (record: PartRecord, image: CapturedImage | undefined) => void): () => void;
}

/** The systemd STATUS line once armed. */
function armedStatus(config: LoadedConfig['config'], model: ModelInfo): string {
  const hardware = `camera ${config.camera.type}, gpio ${config.gpio.type}`;
  return `armed: ${model.name} ${model.version} on ${model.executionProvider}, ${hardware}`;
}

/** One error line naming every part the stop left to the gate's safe state: the parts to quarantine. */
function logSafeStateParts(log: Logger, left: RunSummary['safe_state'] | undefined): void {
  if (left === undefined || left.parts === 0) return;
  const fields = {
    code: 'LS_SAFE_STATE_PARTS',
    parts: left.parts,
    rejectsNotFired: left.rejectsNotFired,
    ids: left.ids,
  };
  log.error(fields, `${left.parts} parts on the belt were left to the gate's safe state: ${left.ids.join(', ')}`);
}

export function createApp(deps: AppDeps): App {
  const { loaded, logger } = deps;
  const config = loaded.config;
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
  const log = logger.child({ component: 'app' });
  const componentHealth = new ComponentHealth();
  const sink = new PartSink({ logger: log, maxParts: deps.maxParts, health: componentHealth, outlets: () => parts });
  const desk = new AlarmDesk({ line: () => parts.line, mqtt: () => parts.mqtt, logger: log });
  const parts: AppComponents = new AppComponents({
    loaded,
    logger,
    env: deps.env,
    drivers: { ...defaultDrivers, ...deps.drivers },
    runId,
    maxParts: deps.maxParts,
    componentsHealthy: () => componentHealth.healthy(),
    onPart: (record, image) => sink.record(record, image),
    onAlarm: (alarm) => desk.raised(alarm),
    onCommand: (command) => desk.command(command),
  });
  const watchdog = watchdogStage({ notifier: deps.notifier, health: lineHealth(() => parts.line), logger: log });
  const runner = new StageRunner([...parts.stages(), watchdog], { logger: log });
  let stopping: Promise<void> | undefined;

  async function start(signal: AbortSignal): Promise<void> {
    log.info({ config: loaded.file, runId, lineId: config.line_id }, 'starting');
    for (const warning of failSafeWarnings(config)) log.warn({ check: 'fail-safe' }, warning);
    await runner.start(signal);
    const model = parts.model();
    const status = armedStatus(config, model);
    deps.notifier?.send({ READY: '1', STATUS: status });
    log.info({ runId, ep: model.executionProvider }, `ready (${status})`);
  }

  async function stopAll(): Promise<void> {
    deps.notifier?.send({ STOPPING: '1' });
    log.info('stopping');
    await runner.stop();
    logSafeStateParts(log, parts.line?.summary().safeState);
    log.info('stopped');
  }

  return {
    start,
    stop: () => (stopping ??= stopAll()),
    forceSafe: () => parts.forceSafe(),
    done: sink.done,
    summary: () =>
      runSummary({ runId, line: parts.line?.summary(), mqtt: parts.mqtt?.state(), inspector: parts.inspector }),
    acknowledge: (idOrAll, by) => desk.acknowledge(idOrAll, by),
    get gpio() {
      return parts.gpio;
    },
    get mqtt() {
      return parts.mqtt;
    },
    get record() {
      return parts.record;
    },
    onPart: (listener) => sink.onPart(listener),
  };
}
