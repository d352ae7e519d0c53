import { randomUUID } from 'node:crypto';
import { AlarmDesk } from './app/commands.js';
import { AppComponents, type AppDrivers } from './app/components.js';
import {
  ComponentHealth,
  healthReport,
  lineHealth,
  type DiskStatus,
  type HealthReport,
  type HealthSources,
  type StorageHealth,
} from './app/health.js';
import { diskSpace, ImageTap, operatorStage } from './app/operator.js';
import { PartSink } from './app/parts.js';
import { StageRunner } from './app/stages.js';
import { runSummary, type RunSummary } from './app/summary.js';
import { watchdogStage } from './app/watchdog.js';
import { createCamera } from './camera/index.js';
import type { LoadedConfig } from './config/load.js';
import type { PartRecord } from './domain/part.js';
import type { CapturedImage, ModelInfo } from './domain/ports.js';
import type { LineRecordReader, LineRecordView } from './domain/record.js';
import { LinesideError } from './errors.js';
import { WorkerInspector } from './inference/worker-inspector.js';
import { createGpio } from './io/gpio/index.js';
import type { GpioDriver } from './io/gpio/types.js';
import { createMqtt, type Mqtt } from './io/mqtt/index.js';
import type { Logger } from './log.js';
import type { Notifier } from './notify.js';
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
  /** The line record (history, image archive, labels): the operator view reads rejects and writes labels there. */
  record?: LineRecordReader;
  /** Whether the line record can write; /healthz reports it under storage. */
  storage?: StorageHealth;
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
  /** The daemon's health, as /healthz and the watchdog see it. */
  health(): HealthReport;
  /** The operator view's address (http://host:port/) while it listens. */
  readonly httpUrl: string | undefined;
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
  const images = new ImageTap();
  const disk = diskSpace(config, loaded.baseDir);
  const sink = new PartSink({ logger: log, maxParts: deps.maxParts, health: componentHealth, outlets: () => parts });
  const desk = new AlarmDesk({ line: () => parts.line, mqtt: () => parts.mqtt, logger: log });
  const parts: AppComponents = new AppComponents({
    ...{ loaded, logger, env: deps.env, drivers: { ...defaultDrivers, ...deps.drivers }, runId },
    maxParts: deps.maxParts,
    componentsHealthy: () => componentHealth.healthy(),
    onPart: (record, image) => sink.record(record, image),
    onAlarm: (alarm) => desk.raised(alarm),
    onImage: (image) => images.emit(image),
    onCommand: (command) => desk.command(command),
  });
  const health = lineHealth(
    () => parts.line,
    () => healthReport(healthSources(parts, componentHealth, disk, deps.storage ?? recordHealth(parts))),
  );
  const summary = (): RunSummary =>
    runSummary({ runId, line: parts.line?.summary(), mqtt: parts.mqtt?.state(), inspector: parts.inspector });
  const operator = operatorStage({
    ...{ config, baseDir: loaded.baseDir, logger, env: deps.env, runId, parts, desk, sink, images, disk },
    ...{ record: deps.record ?? recordReader(() => parts.record), health: health.report, summary },
  });
  const watchdog = watchdogStage({ notifier: deps.notifier, health, logger: log });
  const runner = new StageRunner([...parts.stages({ afterMqtt: operator.stage }), watchdog], { logger: log });
  const { start, stopAll } = lifecycle({ ...deps, log, runner, parts, stopFirst: operator.stage });
  let stopping: Promise<void> | undefined;

  return {
    start,
    stop: () => (stopping ??= stopAll()),
    forceSafe: () => parts.forceSafe(),
    done: sink.done,
    summary,
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
    health: health.report,
    get httpUrl() {
      return operator.server()?.url;
    },
  };
}

/** The daemon's start (stages, then READY) and its orderly stop (the operator view first, then the stages). */
function lifecycle(
  d: AppDeps & { log: Logger; runner: StageRunner; parts: AppComponents; stopFirst: { stop(): Promise<void> } },
): { start: (signal: AbortSignal) => Promise<void>; stopAll: () => Promise<void> } {
  const { log, loaded, runner, parts } = d;
  const config = loaded.config;
  return {
    start: async (signal) => {
      log.info({ config: loaded.file, runId: parts.runId, lineId: config.line_id }, 'starting');
      for (const warning of failSafeWarnings(config)) log.warn({ check: 'fail-safe' }, warning);
      await runner.start(signal);
      const model = parts.model();
      const status = armedStatus(config, model);
      d.notifier?.send({ READY: '1', STATUS: status });
      log.info({ runId: parts.runId, ep: model.executionProvider }, `ready (${status})`);
    },
    stopAll: async () => {
      d.notifier?.send({ STOPPING: '1' });
      log.info('stopping');
      await d.stopFirst.stop();
      await runner.stop();
      logSafeStateParts(log, parts.line?.summary().safeState);
      log.info('stopped');
    },
  };
}

/** What the health report reads, from the daemon's parts as far as they have started. */
function healthSources(
  parts: AppComponents,
  components: ComponentHealth,
  disk: { status: DiskStatus | undefined },
  storage: StorageHealth | undefined,
): HealthSources {
  return {
    line: () => parts.line,
    components,
    modelLoaded: () => parts.inspector !== undefined && parts.camera !== undefined,
    cameraOpen: () => parts.camera !== undefined && parts.gpio !== undefined,
    gpioOpen: () => parts.lines !== undefined,
    gateThreads: () => parts.gateTimer,
    mqtt: () => parts.mqtt?.state(),
    storage,
    disk: () => disk.status,
  };
}

/** The systemd STATUS line once armed. */
function armedStatus(config: LoadedConfig['config'], model: ModelInfo): string {
  const hardware = `camera ${config.camera.type}, gpio ${config.gpio.type}`;
  return `armed: ${model.name} ${model.version} on ${model.executionProvider}, ${hardware}`;
}

/** The line record's storage health for /healthz: its own faults, or why it could not be opened at all. */
function recordHealth(parts: AppComponents): StorageHealth {
  return () => {
    const record = parts.record;
    if (record !== undefined) {
      const { healthy, reason } = record.health();
      return reason === null ? { healthy } : { healthy, reason };
    }
    return parts.recordError === null ? undefined : { healthy: false, reason: `line record: ${parts.recordError}` };
  };
}

/** The operator view reads the record the 'record' stage opens (later than the view is built). */
function recordReader(record: () => LineRecordView | undefined): LineRecordReader {
  const open = (): LineRecordView => {
    const r = record();
    if (r === undefined) throw new LinesideError('LS_RECORD_IO', 'the line record is not open');
    return r;
  };
  return {
    history: (query) => open().history(query),
    image: async (partId) => (record() === undefined ? null : open().image(partId)),
    label: (partId, label, by) => open().label(partId, label, by),
  };
}
