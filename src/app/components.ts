import path from 'node:path';
import type { CameraDeps } from '../camera/index.js';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { PartRecord } from '../domain/part.js';
import type {
  Camera,
  CapturedImage,
  DigitalOutput,
  EdgeEvent,
  EdgeInput,
  Inspector,
  ModelInfo,
} from '../domain/ports.js';
import { errorCode, errorMessage } from '../errors.js';
import { GateThread } from '../io/gpio/gate-thread.js';
import type { GpioDriver } from '../io/gpio/types.js';
import type { LineStateFacts, Mqtt, MqttDeps } from '../io/mqtt/index.js';
import { outboxMigrations } from '../io/mqtt/outbox-store.js';
import type { Logger } from '../log.js';
import { LineRecord } from '../record/index.js';
import type { AlarmRecord } from '../pipeline/alarms.js';
import { InspectionLine } from '../pipeline/inspection-line.js';
import { stageGroup, type Stage } from './stages.js';

/** The factories the daemon builds its parts with. Tests pass the same registries (with sim config) or their own. */
export interface AppDrivers {
  camera(config: Config['camera'], deps: CameraDeps): Camera;
  gpio(config: Config['gpio'], deps: { logger: Logger }): GpioDriver;
  inspector(deps: InspectorDeps): Inspector;
  mqtt(config: Config['mqtt'], deps: MqttDeps): Mqtt;
}

export interface InspectorDeps {
  bundleDir: string;
  /** With paths (the TensorRT engine cache) already resolved from the config file's directory. */
  inference: Config['inference'];
  logger: Logger;
  /** `model.selftest_dir`, resolved: the golden parts of the self-test before arming. */
  selftestDir?: string;
}

/** The inspector's deps from the config: relative paths resolve from the config file, as everywhere. */
export function inspectorDeps(loaded: LoadedConfig, logger: Logger): InspectorDeps {
  const { config, baseDir } = loaded;
  const { tensorrt } = config.inference;
  const dir = config.model.selftest_dir;
  return {
    bundleDir: resolveFrom(baseDir, config.model.bundle),
    inference: { ...config.inference, tensorrt: { ...tensorrt, cache_dir: resolveFrom(baseDir, tensorrt.cache_dir) } },
    logger,
    ...(dir === undefined ? {} : { selftestDir: resolveFrom(baseDir, dir) }),
  };
}

export interface ComponentsDeps {
  loaded: LoadedConfig;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  drivers: AppDrivers;
  runId: string;
  /** Stop accepting triggers after this many parts. */
  maxParts: number | undefined;
  /** The camera and model still work (ComponentHealth). */
  componentsHealthy: () => boolean;
  onPart: (record: PartRecord, image: CapturedImage | undefined) => void;
  onAlarm: (alarm: AlarmRecord) => void;
  /** Each captured image, after its capture resolved (the operator view's thumbnails); must not throw. */
  onImage?: (image: CapturedImage) => void;
  onCommand: Parameters<Mqtt['onCommand']>[0];
}

interface Lines {
  gate: DigitalOutput;
  alarm?: DigitalOutput;
  heartbeat?: DigitalOutput;
  trigger: EdgeInput;
  encoder?: EdgeInput;
  confirm?: EdgeInput;
  binFull?: EdgeInput;
}

/** Relative paths in the config resolve from the config file's directory. */
function resolveFrom(baseDir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(baseDir, p);
}

/** Passes edges on until `limit()` says stop: --max-parts disarms the photo-eye without touching the line's logic. */
function limitedInput(input: EdgeInput, limit: () => boolean): EdgeInput {
  return {
    name: input.name,
    start: (signal) => input.start(signal),
    stop: () => input.stop(),
    read: () => input.read(),
    onEdge: (listener) => input.onEdge((ev: EdgeEvent) => (limit() ? undefined : listener(ev))),
  };
}

/** A part with the one lifecycle (an output, an input) as a stage of its own. */
function partStage(name: string, part: { start(signal: AbortSignal): Promise<void>; stop(): Promise<void> }): Stage {
  return { name, start: (signal) => part.start(signal), stop: () => part.stop() };
}

/**
 * The daemon's parts, built and started stage by stage (stages()), each kept here once built so the app can
 * report on it (summary, tests driving the sim GPIO) even after it stopped.
 */
export class AppComponents {
  inspector: Inspector | undefined;
  camera: Camera | undefined;
  gpio: GpioDriver | undefined;
  lines: Lines | undefined;
  gateTimer: GateThread | undefined;
  mqtt: Mqtt | undefined;
  line: InspectionLine | undefined;
  record: LineRecord | undefined;
  /** Why the line record could not be opened at all (it runs without it), null when it is open. */
  recordError: string | null = null;

  constructor(private readonly deps: ComponentsDeps) {}

  get runId(): string {
    return this.deps.runId;
  }

  /** The model in use; known once the inference stage has started. */
  model(): ModelInfo {
    if (!this.inspector) throw new Error('the model is loaded by the inference stage, which has not run');
    return this.inspector.info;
  }

  private get config(): Config {
    return this.deps.loaded.config;
  }

  private child(component: string): Logger {
    return this.deps.logger.child({ component });
  }

  /**
   * Model -> camera -> GPIO -> outputs (each forced safe by its own start) -> gate threads -> MQTT (never waits
   * for the broker) -> [extra.afterMqtt: the operator view] -> line -> inputs -> drain -> watchdog. Stopped in
   * reverse.
   *
   * The line subscribes to the inputs when it starts, before they deliver edges, so no trigger slips by uncounted.
   * But it must drain before they stop, so that the encoder and the confirm sensor keep working while the last
   * parts reach the gate: the 'drain' stage after the inputs stops it first. The 'line' stage stops it too (the
   * same stop, it runs once), for a start that fails at the inputs.
   */
  stages(extra: { afterMqtt?: Stage } = {}): Stage[] {
    const log = { logger: this.child('app') };
    return [
      { name: 'inference', start: (signal) => this.startInference(signal), stop: async () => this.inspector?.stop() },
      { name: 'camera', start: (signal) => this.startCamera(signal), stop: async () => this.camera?.stop() },
      { name: 'gpio', start: (signal) => this.startGpio(signal), stop: async () => this.gpio?.stop() },
      stageGroup('outputs', () => this.outputStages(), log),
      {
        name: 'gate threads',
        start: (signal) => this.startGateThread(signal),
        stop: async () => this.gateTimer?.stop(),
      },
      { name: 'record', start: (signal) => this.startRecord(signal), stop: async () => this.record?.stop() },
      { name: 'mqtt', start: (signal) => this.startMqtt(signal), stop: async () => this.mqtt?.stop() },
      ...(extra.afterMqtt ? [extra.afterMqtt] : []),
      { name: 'line', start: (signal) => this.startLine(signal), stop: async () => this.line?.stop() },
      stageGroup('inputs', () => this.inputStages(), log),
      { name: 'drain', start: () => Promise.resolve(), stop: async () => this.line?.stop() },
    ];
  }

  private async startInference(signal: AbortSignal): Promise<void> {
    this.inspector = this.deps.drivers.inspector(inspectorDeps(this.deps.loaded, this.child('inference')));
    await this.inspector.start(signal);
    const model = this.inspector.info;
    const fields = {
      model: model.name,
      version: model.version,
      ep: model.executionProvider,
      threshold: model.threshold,
    };
    this.child('app').info(fields, 'model verified and warm');
  }

  private async startCamera(signal: AbortSignal): Promise<void> {
    const { loaded, env, drivers } = this.deps;
    this.camera = drivers.camera(this.config.camera, { logger: this.child('camera'), baseDir: loaded.baseDir, env });
    await this.camera.start(signal);
  }

  /** Starts the driver and claims every configured line; none is driven or listened to before its own stage. */
  private async startGpio(signal: AbortSignal): Promise<void> {
    const gpio = this.deps.drivers.gpio(this.config.gpio, { logger: this.child('gpio') });
    this.gpio = gpio;
    await gpio.start(signal);
    try {
      this.lines = this.claimLines(gpio);
    } catch (err) {
      // A stage that throws cleans up after itself: the driver is running, so it is stopped here.
      await gpio.stop();
      throw err;
    }
  }

  private claimLines(gpio: GpioDriver): Lines {
    const { alarms, heartbeat, tracking, confirm, gate, trigger } = this.config;
    const limit = (): boolean =>
      this.deps.maxParts !== undefined && (this.line?.acceptedTriggers ?? 0) >= this.deps.maxParts;
    return {
      gate: gpio.output('gate', gate),
      ...(alarms.output ? { alarm: gpio.output('alarm', alarms.output) } : {}),
      ...(heartbeat ? { heartbeat: gpio.output('heartbeat', heartbeat) } : {}),
      trigger: limitedInput(gpio.input('trigger', trigger), limit),
      ...(tracking.mode === 'encoder' ? { encoder: gpio.input('encoder', tracking.encoder) } : {}),
      ...(confirm ? { confirm: gpio.input('confirm', confirm) } : {}),
      ...(alarms.bin_full ? { binFull: gpio.input('bin_full', alarms.bin_full) } : {}),
    };
  }

  /** Outputs before anything that could cause a pulse; each start forces its output to the safe state. */
  private outputStages(): Stage[] {
    const { gate, alarm, heartbeat } = this.requireLines();
    return [gate, alarm, heartbeat].flatMap((out) => (out ? [partStage(`output ${out.name}`, out)] : []));
  }

  private inputStages(): Stage[] {
    const { trigger, encoder, confirm, binFull } = this.requireLines();
    return [trigger, encoder, confirm, binFull].flatMap((inp) => (inp ? [partStage(`input ${inp.name}`, inp)] : []));
  }

  private requireLines(): Lines {
    if (!this.lines) throw new Error('gpio lines are opened by the gpio stage, which has not run');
    return this.lines;
  }

  /** gate.timer 'thread': the reject edge is switched by a thread of its own, where the driver allows it. */
  private async startGateThread(signal: AbortSignal): Promise<void> {
    const { gate: gateConfig, gpio } = this.config;
    const gate = this.requireLines().gate;
    const log = this.child('app');
    if (gateConfig.timer !== 'thread') return;
    if (gate.offThread === undefined) {
      const why = `gate.timer: thread is not available with gpio.type ${gpio.type}`;
      log.warn({ gpio: gpio.type }, `${why}; reject edges are timed on the event loop (gate.hold_ms)`);
      return;
    }
    const thread = new GateThread({
      output: gate,
      logger: this.child('gate'),
      spinMs: gateConfig.spin_ms,
      rtPriority: gateConfig.rt_priority,
      threads: gateConfig.threads,
    });
    try {
      await thread.start(signal);
      this.gateTimer = thread;
    } catch (err) {
      // The event-loop timer still moves the gate, only less precisely under load: degrade, do not refuse to run.
      const fields = { code: errorCode(err), err: errorMessage(err) };
      log.error(fields, 'gate threads did not start; reject edges are timed on the event loop (gate.hold_ms)');
    }
  }

  /**
   * The line record (src/record): a database that cannot be made at all (unwritable state directory) is an error
   * line and a degraded record, never a reason to stop inspecting; a corrupt one is moved aside by the open itself.
   */
  private async startRecord(signal: AbortSignal): Promise<void> {
    const { loaded } = this.deps;
    const logger = this.child('record');
    const record = new LineRecord({
      config: this.config.record,
      baseDir: loaded.baseDir,
      logger,
      migrations: [outboxMigrations],
      runId: this.deps.runId,
      model: () => this.inspector?.info,
      onStorageFault: (message) => this.line?.raiseAlarm('storage', message),
    });
    try {
      await record.start(signal);
      this.record = record;
    } catch (err) {
      this.recordError = errorMessage(err);
      logger.error({ code: errorCode(err), err: this.recordError }, 'line record unavailable: running without it');
    }
  }

  private async startMqtt(signal: AbortSignal): Promise<void> {
    const { config } = this;
    const { loaded, runId, env } = this.deps;
    const logger = this.child('mqtt');
    this.mqtt = this.deps.drivers.mqtt(config.mqtt, {
      logger,
      lineId: config.line_id,
      baseDir: loaded.baseDir,
      runId,
      env,
      lineState: () => this.lineState(),
      station: { model: () => this.inspector?.info, healthy: () => this.line?.progress() },
      ...(this.record ? { database: this.record.database } : {}),
      ...(this.recordError === null ? {} : { recordError: this.recordError }),
    });
    await this.mqtt.start(signal);
    this.mqtt.onCommand(this.deps.onCommand);
  }

  /** The line's counters, health and model for MQTT's retained state; undefined until the line is built. */
  private lineState(): LineStateFacts | undefined {
    const line = this.line;
    if (line === undefined) return undefined;
    const s = line.summary();
    const model = this.inspector?.info;
    return {
      parts: s.parts,
      ok: s.ok,
      reject: s.reject,
      failsafe: s.failsafe,
      gatePulses: s.gatePulses,
      alarmsActive: s.alarms.active,
      healthy: line.progress(),
      model,
    };
  }

  /** See App.forceSafe. */
  forceSafe(): { safe: string[]; failed: string[] } {
    const result = { safe: [] as string[], failed: [] as string[] };
    try {
      this.line?.forceSafe();
    } catch (err) {
      result.failed.push(`line: ${errorMessage(err)}`);
    }
    const { gate, alarm, heartbeat } = this.lines ?? {};
    for (const out of [gate, alarm, heartbeat]) {
      if (out === undefined) continue;
      try {
        out.forceSafe();
        result.safe.push(out.name);
      } catch (err) {
        result.failed.push(`${out.name}: ${errorMessage(err)}`);
      }
    }
    return result;
  }

  private async startLine(signal: AbortSignal): Promise<void> {
    const config = this.config;
    const { gate, alarm, heartbeat, trigger, encoder, confirm, binFull } = this.requireLines();
    const camera = this.camera;
    const inspector = this.inspector;
    if (!camera || !inspector) throw new Error('the line needs the camera and the model, whose stages have not run');
    const line = new InspectionLine({
      runId: this.deps.runId,
      config,
      captureTimeoutMs: config.camera.timeout_ms,
      inspectTimeoutMs: config.inference.timeout_ms,
      capture: (sig) => camera.capture(sig).then((image) => (this.deps.onImage?.(image), image)),
      inspect: (image, sig) => inspector.inspect(image.data, sig),
      modelInfo: () => inspector.info,
      health: this.deps.componentsHealthy,
      trigger,
      gate,
      ...(this.gateTimer ? { gateTimer: this.gateTimer } : {}),
      ...(encoder ? { encoder } : {}),
      ...(confirm ? { confirm } : {}),
      ...(binFull ? { binFull } : {}),
      ...(alarm ? { alarmOutput: alarm } : {}),
      ...(heartbeat ? { heartbeat } : {}),
    });
    this.line = line;
    line.on('part', this.deps.onPart);
    line.on('alarm', this.deps.onAlarm);
    // A line the driver loses after start (a dead gpiomon or gpioset, a failed asynchronous write) reaches the line:
    // alarm, unhealthy, and rejects recorded not fired when it is the gate.
    this.gpio?.onError?.((err, name) => line.lineFault(name, err));
    await line.start(signal);
  }
}
