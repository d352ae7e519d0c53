import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createCamera, type CameraDeps } from './camera/index.js';
import type { Camera } from './domain/ports.js';
import type { LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { errorCode, errorMessage } from './errors.js';
import { WorkerInspector } from './inference/worker-inspector.js';
import type { Inspector } from './domain/ports.js';
import { GateThread } from './io/gpio/gate-thread.js';
import { createGpio } from './io/gpio/index.js';
import type { DigitalOutput, EdgeEvent, EdgeInput } from './domain/ports.js';
import type { GpioDriver } from './io/gpio/types.js';
import { createMqtt, type Mqtt, type MqttDeps } from './io/mqtt/index.js';
import type { Logger } from './log.js';
import type { Notifier } from './notify.js';
import type { AlarmRecord } from './pipeline/alarms.js';
import { failSafeWarnings } from './pipeline/fail-safe.js';
import { InspectionLine, type LineSummary } from './pipeline/inspection-line.js';
import type { FailsafeReason, PartRecord } from './domain/part.js';

/** The factories createApp builds its parts with. Tests pass the same registries (with sim config) or their own. */
export interface AppDrivers {
  camera(config: Config['camera'], deps: CameraDeps): Camera;
  gpio(config: Config['gpio'], deps: { logger: Logger }): GpioDriver;
  inspector(deps: { bundleDir: string; inference: Config['inference']; logger: Logger }): Inspector;
  mqtt(config: Config['mqtt'], deps: MqttDeps): Mqtt;
}

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

/** The run summary printed as the last stdout line at exit. snake_case: it is read by scripts, like MQTT payloads. */
export interface RunSummary {
  run_id: string;
  parts: number;
  ok: number;
  reject: number;
  failsafe: Record<string, number>;
  gate_pulses: number;
  /** Gate activations later than gate.max_lateness_ms (the part may already have passed). */
  gate_late: number;
  labelled: number;
  escapes: number;
  false_rejects: number;
  latency_ms: { p50: number | null; p99: number | null; max: number | null };
  gate_lateness_ms: { p50: number | null; p99: number | null; max: number | null };
  triggers: LineSummary['triggers'];
  confirm: LineSummary['confirm'];
  alarms: { raised: number; active: number };
  safe_state: LineSummary['safeState'];
  model: { version: string; execution_provider: string } | null;
  mqtt: { connected: boolean; sent: number; queued: number; dropped: number; rejected: number; lost_at_stop: number } | null;
}

export interface App {
  /** Config is already valid. Model -> camera -> GPIO (gate safe) -> MQTT (no wait) -> arm -> READY. */
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
  onPart(listener: (record: PartRecord) => void): () => void;
}

/** Fail-safe reasons that mean a component (camera, model) is broken, not the part. */
const COMPONENT_FAILURES: ReadonlySet<FailsafeReason> = new Set(['camera_timeout', 'camera_error', 'inference_error', 'model_not_ready', 'encoder_stalled']);
/** Consecutive parts failed by a broken component before the line reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 5;

/** Percentiles to 0.01 ms: finer digits are noise, and they make the summary hard to read. */
function rounded(p: { p50: number | null; p99: number | null; max: number | null } | undefined): RunSummary['latency_ms'] {
  const r = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 100) / 100);
  return { p50: r(p?.p50), p99: r(p?.p99), max: r(p?.max) };
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

export function createApp(deps: AppDeps): App {
  const { loaded, logger, env } = deps;
  const config = loaded.config;
  const drivers: AppDrivers = { ...defaultDrivers, ...deps.drivers };
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
  const log = logger.child({ component: 'app' });
  const started: { stop(): Promise<void>; name: string }[] = [];
  const partListeners = new Set<(record: PartRecord) => void>();
  const outputs: DigitalOutput[] = [];
  let inspector: Inspector | undefined;
  let gpio: GpioDriver | undefined;
  let mqtt: Mqtt | undefined;
  let line: InspectionLine | undefined;
  let watchdogTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let completed = 0;
  let componentFailures = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  async function startPart(part: { start(signal: AbortSignal): Promise<void>; stop(): Promise<void> }, name: string, signal: AbortSignal): Promise<void> {
    await part.start(signal);
    started.push({ name, stop: () => part.stop() });
  }

  function onPart(record: PartRecord): void {
    // One info line per part; publishing queues in memory and returns: neither waits for disk or broker.
    const fields = {
      part: record.id,
      seq: record.seq,
      verdict: record.verdict ?? null,
      decision: record.decision,
      score: record.defectScore === undefined ? null : Number(record.defectScore.toFixed(4)),
      ms: record.verdictLatencyMs === undefined ? null : Number(record.verdictLatencyMs.toFixed(1)),
      ...(record.failsafeReason ? { failsafe: record.failsafeReason, code: record.errorCode, err: record.errorMessage } : {}),
      ...(record.label ? { label: record.label } : {}),
      fired: record.tracking.fired,
      ...(record.tracking.confirmed === null ? {} : { confirmed: record.tracking.confirmed }),
    };
    if (record.failsafeReason) log.warn(fields, `part ${record.seq} rejected fail-safe: ${record.failsafeReason}`);
    else log.info(fields, `part ${record.seq} ${record.decision}`);
    mqtt?.publishPart(record);
    if (record.failsafeReason !== undefined && COMPONENT_FAILURES.has(record.failsafeReason)) componentFailures += 1;
    else if (record.verdict !== undefined) componentFailures = 0;
    for (const listener of partListeners) listener(record);
    completed += 1;
    if (deps.maxParts !== undefined && completed >= deps.maxParts) resolveDone();
  }

  function onAlarm(alarm: AlarmRecord): void {
    log.error({ code: 'LS_ALARM', alarm: alarm.id, kind: alarm.kind, part: alarm.partId, repeats: alarm.repeats }, `alarm: ${alarm.message}`);
    mqtt?.publishAlarm({
      alarm: alarm.kind,
      id: alarm.id,
      state: 'raised',
      message: alarm.message,
      details: { part_id: alarm.partId ?? null, repeats: alarm.repeats },
    });
  }

  function acknowledge(idOrAll: string, by: string): AlarmRecord[] {
    const acked = line?.acknowledge(idOrAll) ?? [];
    for (const alarm of acked) {
      log.info({ alarm: alarm.id, kind: alarm.kind, by }, 'alarm acknowledged');
      mqtt?.publishAlarm({ alarm: alarm.kind, id: alarm.id, state: 'acknowledged', message: alarm.message, by });
    }
    if (acked.length === 0) log.warn({ alarm: idOrAll, by }, 'acknowledge: no such active alarm');
    return acked;
  }

  function openInput(driver: GpioDriver, name: string, line: Parameters<GpioDriver['input']>[1]): EdgeInput {
    return driver.input(name, line);
  }

  /** gate.timer 'thread': the reject edge is switched by a thread of its own, where the driver allows it. */
  async function startGateThread(gate: DigitalOutput, signal: AbortSignal): Promise<GateThread | undefined> {
    if (config.gate.timer !== 'thread') return undefined;
    if (gate.offThread === undefined) {
      log.warn({ gpio: config.gpio.type }, `gate.timer: thread is not available with gpio.type ${config.gpio.type}; reject edges are timed on the event loop (gate.hold_ms)`);
      return undefined;
    }
    const thread = new GateThread({ output: gate, logger: logger.child({ component: 'gate' }), spinMs: config.gate.spin_ms, rtPriority: config.gate.rt_priority, threads: config.gate.threads });
    try {
      await startPart(thread, 'gate thread', signal);
      return thread;
    } catch (err) {
      // The event-loop timer still moves the gate, only less precisely under load: degrade, do not refuse to run.
      log.error({ code: errorCode(err), err: errorMessage(err) }, 'gate threads did not start; reject edges are timed on the event loop (gate.hold_ms)');
      return undefined;
    }
  }

  async function start(signal: AbortSignal): Promise<void> {
    log.info({ config: loaded.file, runId, lineId: config.line_id }, 'starting');
    for (const warning of failSafeWarnings(config)) log.warn({ check: 'fail-safe' }, warning);

    inspector = drivers.inspector({
      bundleDir: resolveFrom(loaded.baseDir, config.model.bundle),
      inference: config.inference,
      logger: logger.child({ component: 'inference' }),
    });
    await startPart(inspector, 'inference', signal);
    const model = inspector.info;
    log.info({ model: model.name, version: model.version, ep: model.executionProvider, threshold: model.threshold }, 'model verified and warm');

    const camera = drivers.camera(config.camera, { logger: logger.child({ component: 'camera' }), baseDir: loaded.baseDir, env });
    await startPart(camera, 'camera', signal);

    gpio = drivers.gpio(config.gpio, { logger: logger.child({ component: 'gpio' }) });
    await startPart(gpio, 'gpio', signal);
    const inputs: EdgeInput[] = [];
    const output = (name: string, cfg: { line: number; active_low: boolean }): DigitalOutput => {
      const out = gpio!.output(name, cfg);
      outputs.push(out);
      return out;
    };
    const input = (name: string, cfg: Parameters<GpioDriver['input']>[1]): EdgeInput => {
      const inp = openInput(gpio!, name, cfg);
      inputs.push(inp);
      return inp;
    };
    // Outputs first, each forced to its safe state by its own start, before any input can cause a pulse.
    const gate = output('gate', config.gate);
    const alarmOutput = config.alarms.output ? output('alarm', config.alarms.output) : undefined;
    const heartbeat = config.heartbeat ? output('heartbeat', config.heartbeat) : undefined;
    for (const out of outputs) await startPart(out, `output ${out.name}`, signal);
    const gateTimer = await startGateThread(gate, signal);

    const limit = (): boolean => deps.maxParts !== undefined && (line?.acceptedTriggers ?? 0) >= deps.maxParts;
    const trigger = limitedInput(input('trigger', config.trigger), limit);
    const encoder = config.tracking.mode === 'encoder' ? input('encoder', config.tracking.encoder) : undefined;
    const confirm = config.confirm ? input('confirm', config.confirm) : undefined;
    const binFull = config.alarms.bin_full ? input('bin_full', config.alarms.bin_full) : undefined;

    mqtt = drivers.mqtt(config.mqtt, { logger: logger.child({ component: 'mqtt' }), lineId: config.line_id, baseDir: loaded.baseDir, runId, env });
    await startPart(mqtt, 'mqtt', signal);
    mqtt.onCommand((command) => {
      // By occurrence id, or every open alarm of a kind, or (neither given) every open alarm.
      const by = command.by ?? 'mqtt';
      if (command.id !== undefined) acknowledge(command.id, by);
      else if (command.alarm !== undefined) {
        const ofKind = (line?.activeAlarms() ?? []).filter((a) => a.kind === command.alarm);
        if (ofKind.length === 0) log.warn({ alarm: command.alarm, by }, 'acknowledge: no open alarm of that kind');
        for (const alarm of ofKind) acknowledge(alarm.id, by);
      } else acknowledge('all', by);
    });

    const activeInspector = inspector;
    line = new InspectionLine({
      runId,
      config,
      captureTimeoutMs: config.camera.timeout_ms,
      inspectTimeoutMs: config.inference.timeout_ms,
      capture: (sig) => camera.capture(sig),
      inspect: (image, sig) => activeInspector.inspect(image.data, sig),
      modelInfo: () => activeInspector.info,
      // Parts still flow when the camera or model is broken (each rejected fail-safe); that is not progress,
      // so the heartbeat stops and systemd's watchdog restarts the daemon, which reopens them.
      health: () => componentFailures < UNHEALTHY_AFTER_FAILURES,
      trigger,
      gate,
      ...(gateTimer ? { gateTimer } : {}),
      ...(encoder ? { encoder } : {}),
      ...(confirm ? { confirm } : {}),
      ...(binFull ? { binFull } : {}),
      ...(alarmOutput ? { alarmOutput } : {}),
      ...(heartbeat ? { heartbeat } : {}),
    });
    line.on('part', onPart);
    line.on('alarm', onAlarm);
    // The line subscribes before the inputs deliver edges, so no trigger slips by uncounted; it is still
    // stopped before them, so the encoder and confirm sensor keep working while it drains.
    const activeLine = line;
    await activeLine.start(signal);
    for (const inp of inputs) await startPart(inp, `input ${inp.name}`, signal);
    started.push({ name: 'line', stop: () => activeLine.stop() });

    const watchdogMs = deps.notifier?.watchdogMs ?? null;
    if (watchdogMs !== null) {
      // Ping at half the interval, and only while the line makes progress: a stuck pipeline gets restarted.
      watchdogTimer = setInterval(() => {
        if (line?.progress()) deps.notifier?.send({ WATCHDOG: '1' });
        else log.warn({ code: 'LS_WATCHDOG' }, 'pipeline not making progress; withholding watchdog ping');
      }, watchdogMs / 2);
      watchdogTimer.unref();
    }
    const status = `armed: ${model.name} ${model.version} on ${model.executionProvider}, camera ${config.camera.type}, gpio ${config.gpio.type}`;
    deps.notifier?.send({ READY: '1', STATUS: status });
    log.info({ runId, ep: model.executionProvider }, `ready (${status})`);
  }

  async function stopAll(): Promise<void> {
    deps.notifier?.send({ STOPPING: '1' });
    if (watchdogTimer) clearInterval(watchdogTimer);
    log.info('stopping');
    for (const part of started.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (err) {
        log.error({ code: errorCode(err), err: errorMessage(err), part: part.name }, 'error while stopping');
      }
    }
    log.info('stopped');
  }

  function forceSafe(): { safe: string[]; failed: string[] } {
    const result = { safe: [] as string[], failed: [] as string[] };
    try {
      line?.forceSafe();
    } catch (err) {
      result.failed.push(`line: ${errorMessage(err)}`);
    }
    for (const out of outputs) {
      try {
        out.forceSafe();
        result.safe.push(out.name);
      } catch (err) {
        result.failed.push(`${out.name}: ${errorMessage(err)}`);
      }
    }
    return result;
  }

  function summary(): RunSummary {
    const s = line?.summary();
    const m = mqtt?.state();
    let model: RunSummary['model'] = null;
    try {
      if (inspector) model = { version: inspector.info.version, execution_provider: inspector.info.executionProvider };
    } catch {
      model = null;
    }
    return {
      run_id: runId,
      parts: s?.parts ?? 0,
      ok: s?.ok ?? 0,
      reject: s?.reject ?? 0,
      failsafe: s?.failsafe ?? {},
      gate_pulses: s?.gatePulses ?? 0,
      gate_late: s?.gateLate ?? 0,
      labelled: s?.labelled ?? 0,
      escapes: s?.escapes ?? 0,
      false_rejects: s?.falseRejects ?? 0,
      latency_ms: rounded(s?.latencyMs),
      gate_lateness_ms: rounded(s?.gateLatenessMs),
      triggers: s?.triggers ?? { accepted: 0, double: 0, missed: 0, overlapping: 0 },
      confirm: s?.confirm ?? { confirmed: 0, unconfirmed: 0, unexpected: 0 },
      alarms: { raised: s?.alarms.raised ?? 0, active: s?.alarms.active ?? 0 },
      safe_state: s?.safeState ?? { parts: 0, rejectsNotFired: 0, ids: [] },
      model,
      mqtt: m ? { connected: m.connected, sent: m.sent, queued: m.queued, dropped: m.dropped, rejected: m.rejected, lost_at_stop: m.lostAtStop } : null,
    };
  }

  return {
    start,
    stop: () => (stopping ??= stopAll()),
    forceSafe,
    done,
    summary,
    acknowledge,
    get gpio() {
      return gpio;
    },
    get mqtt() {
      return mqtt;
    },
    onPart(listener) {
      partListeners.add(listener);
      return () => partListeners.delete(listener);
    },
  };
}
