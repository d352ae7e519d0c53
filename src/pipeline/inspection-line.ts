import type { CapturedImage } from '../camera/types.js';
import type {
  AlarmsConfig,
  ConfirmConfig,
  GateConfig,
  HeartbeatConfig,
  PipelineConfig,
  TrackingConfig,
  TriggerConfig,
} from '../config/sections/line.js';
import { withDeadline } from '../deadline.js';
import { type ErrorCode, LinesideError, errorCode, errorMessage } from '../errors.js';
import type { Inspection, ModelInfo } from '../inference/types.js';
import type { DigitalOutput, EdgeEvent, EdgeInput, TimedSwitch } from '../io/gpio/types.js';
import type { Lifecycle } from '../lifecycle.js';
import { type AlarmKind, AlarmManager, type AlarmRecord } from './alarms.js';
import { type Clock, systemClock } from './clock.js';
import { Emitter } from './emitter.js';
import { GateController } from './gate-controller.js';
import { Heartbeat } from './heartbeat.js';
import { LatencyHistogram } from './histogram.js';
import { PreciseScheduler, type Scheduler, TimeoutScheduler } from './scheduler.js';
import { type Decision, FAILSAFE_REASONS, type FailsafeReason, type PartRecord } from './types.js';

/** The config sections the line reads (already parsed; see src/config/sections/line.ts). */
export interface InspectionLineConfig {
  trigger: TriggerConfig;
  gate: GateConfig;
  tracking: TrackingConfig;
  confirm?: ConfirmConfig;
  alarms: AlarmsConfig;
  heartbeat?: HeartbeatConfig;
  pipeline: PipelineConfig;
}

export type CaptureFn = (signal: AbortSignal) => Promise<CapturedImage>;
export type InspectFn = (image: CapturedImage, signal: AbortSignal) => Promise<Inspection>;

/**
 * Everything the line uses, injected. The line does not start or stop the ports (the app owns the GPIO
 * driver and camera lifecycles); it forces its outputs to the safe state on start and stop.
 */
export interface InspectionLineDeps {
  runId: string;
  config: InspectionLineConfig;
  /** camera.timeout_ms: capture deadline per part. */
  captureTimeoutMs: number;
  /** inference.timeout_ms: inspection deadline per part. */
  inspectTimeoutMs: number;
  capture: CaptureFn;
  inspect: InspectFn;
  /** False while the model is not loaded/warmed up: parts are rejected 'model_not_ready' without inspecting. */
  modelReady?: () => boolean;
  /** Model facts copied into each record. */
  modelInfo?: () => Pick<ModelInfo, 'version' | 'executionProvider'> | undefined;
  trigger: EdgeInput;
  gate: DigitalOutput;
  /** Required when tracking.mode is 'encoder'. */
  encoder?: EdgeInput;
  confirm?: EdgeInput;
  binFull?: EdgeInput;
  alarmOutput?: DigitalOutput;
  heartbeat?: DigitalOutput;
  /** Health of the injected components (inference worker alive, camera open). Default: always healthy. */
  health?: () => boolean;
  /** Default: systemClock(). */
  clock?: Clock;
  /** Scheduler for reject edges and gate moments on the event loop. Default: PreciseScheduler with gate.hold_ms. */
  gateScheduler?: Scheduler;
  /** Times reject edges off the event loop (the gate thread, gate.timer: thread); the scheduler stays the fallback. */
  gateTimer?: TimedSwitch;
}

export interface InspectionLineEvents {
  /** A part is complete: decided, its gate action settled and its confirm resolved. */
  part: (record: PartRecord) => void;
  alarm: (alarm: AlarmRecord) => void;
  alarm_acknowledged: (alarms: readonly AlarmRecord[]) => void;
}

export interface Percentiles {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** Run summary. Counters only grow; latencies come from a fixed-memory histogram. */
export interface LineSummary {
  runId: string;
  /** Completed parts. */
  parts: number;
  /** Completed parts let pass. */
  ok: number;
  /** Completed parts rejected (model verdict or fail-safe). */
  reject: number;
  failsafe: Record<FailsafeReason, number>;
  /** Gate activations (a merged pulse counts once). */
  gatePulses: number;
  /** Ground truth known (folder camera). */
  labelled: number;
  /** Label 'defective' but decision 'pass'. */
  escapes: number;
  /** Label 'ok' but decision 'reject'. */
  falseRejects: number;
  /** Trigger to model verdict (fail-safe decisions excluded). */
  latencyMs: Percentiles;
  /** Actual minus planned gate activation. */
  gateLatenessMs: Percentiles;
  /** Parts whose gate activation came more than gate.max_lateness_ms late (tracking.outcome 'fired_late'). */
  gateLate: number;
  triggers: {
    accepted: number;
    /** Closer than trigger.min_spacing_ms to the previous part: bounce or a double trigger, ignored. */
    double: number;
    /** Arrived while the line was not running (starting, stopped): the part went untracked. Parts seen
     * while draining are tracked and rejected 'shutdown'. */
    missed: number;
    /** Arrived while the previous part was still being captured (accepted as a new part). */
    overlapping: number;
  };
  confirm: { confirmed: number; unconfirmed: number; unexpected: number };
  alarms: { raised: number; active: number; byKind: Record<AlarmKind, number> };
  /** Parts still on the belt when the gate went to safe state at shutdown. */
  safeState: { parts: number; rejectsNotFired: number };
}

type GateStage = 'waiting' | 'requested' | 'done';

interface Part {
  record: PartRecord;
  abort: AbortController;
  holdsSlot: boolean;
  capturing: boolean;
  decided: boolean;
  gateStage: GateStage;
  /** Time mode: planned gate activation (due - lead). */
  fireAtMs: number;
  cancelTimers: (() => void)[];
  awaitingConfirm: boolean;
}

const SPEED_WINDOW_EDGES = 5;

const CAPTURE_REASON: Partial<Record<ErrorCode, FailsafeReason>> = {
  LS_CAMERA_TIMEOUT: 'camera_timeout',
};

const INSPECT_REASON: Partial<Record<ErrorCode, FailsafeReason>> = {
  LS_IMAGE_DECODE: 'decode_error',
  LS_IMAGE_TOO_LARGE: 'decode_error',
  LS_MODEL_MISSING: 'model_not_ready',
  LS_MODEL_CHECKSUM: 'model_not_ready',
  LS_MODEL_INVALID: 'model_not_ready',
  LS_EP_UNAVAILABLE: 'model_not_ready',
};

/**
 * The inspection line: trigger -> capture -> inspect -> decision -> tracking -> gate -> confirm -> 'part'.
 * Pure logic: every port and the clock are injected. Fail-safe: any part without a timely model verdict
 * is rejected with a reason code.
 */
export class InspectionLine implements Lifecycle {
  private readonly events = new Emitter<InspectionLineEvents>();
  private readonly clock: Clock;
  private readonly gate: GateController;
  private readonly alarms: AlarmManager;
  private readonly heartbeat: Heartbeat | undefined;
  private readonly gateScheduler: Scheduler;
  private readonly coarse: Scheduler;

  private armed = false;
  private running = false;
  private stopping: Promise<void> | undefined;
  private seq = 0;
  private lastTriggerMs: number | undefined;
  private inFlight = 0;
  private lastProgressMs = 0;
  private gateFault = false;
  /** Encoder mode: triggers kept coming with no encoder count; the gate is held in reject. */
  private encoderStalled = false;
  /** Encoder mode: the count at which the last part covered by the stall hold has passed the gate. */
  private holdUntilCount = 0;
  private triggersSinceCount = 0;
  /** Unsettled parts in trigger order. */
  private readonly parts = new Map<number, Part>();
  /** Encoder mode: parts not yet at the gate, in belt order. */
  private readonly onBelt: Part[] = [];
  private readonly awaitingConfirm: Part[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private drained: (() => void) | undefined;

  private encoderCount = 0;
  private readonly encoderEdgeMs: number[] = [];
  /** How long after their timestamp the last few encoder edges were delivered (drivers batch them). */
  private readonly encoderLagMs: number[] = [];

  private consecutiveRejects = 0;
  private readonly rateWindow: boolean[] = [];
  private rateWindowRejects = 0;

  private readonly latency = new LatencyHistogram();
  private readonly gateLateness = new LatencyHistogram();
  private readonly counts = {
    parts: 0,
    ok: 0,
    reject: 0,
    labelled: 0,
    escapes: 0,
    falseRejects: 0,
    accepted: 0,
    double: 0,
    missed: 0,
    overlapping: 0,
    confirmed: 0,
    unconfirmed: 0,
    unexpected: 0,
    safeStateParts: 0,
    safeStateRejectsNotFired: 0,
    gateLate: 0,
  };
  private readonly failsafe = Object.fromEntries(FAILSAFE_REASONS.map((r) => [r, 0])) as Record<FailsafeReason, number>;

  constructor(private readonly deps: InspectionLineDeps) {
    const { config } = deps;
    this.clock = deps.clock ?? systemClock();
    this.coarse = new TimeoutScheduler({ clock: this.clock });
    this.gateScheduler = deps.gateScheduler ?? new PreciseScheduler({ clock: this.clock, holdMs: config.gate.hold_ms });
    this.gate = new GateController({
      output: deps.gate,
      clock: this.clock,
      scheduler: this.gateScheduler,
      ...(deps.gateTimer === undefined ? {} : { timed: deps.gateTimer }),
      coarse: this.coarse,
      pulseMs: config.gate.pulse_ms,
      minGapMs: config.gate.min_gap_ms,
      merge: config.gate.merge,
      energisedPosition: config.gate.energised_position,
      onFired: (seqs, firedMs, requestedMs) => this.onFired(seqs, firedMs, requestedMs),
      onWriteError: (err, seqs) => this.onGateWriteError(err, seqs),
      onClosed: () => this.checkDrained(),
    });
    this.alarms = new AlarmManager({
      runId: deps.runId,
      clock: this.clock,
      ...(deps.alarmOutput === undefined ? {} : { output: deps.alarmOutput }),
      onRaised: (alarm) => this.events.emit('alarm', alarm),
      onAcknowledged: (alarms) => this.events.emit('alarm_acknowledged', alarms),
      onOutputError: (err) => this.alarms.raise('output_write_failed', `alarm output: ${errorMessage(err)}`),
    });
    this.heartbeat =
      deps.heartbeat === undefined || config.heartbeat === undefined
        ? undefined
        : new Heartbeat({
            output: deps.heartbeat,
            clock: this.clock,
            periodMs: config.heartbeat.period_ms,
            healthy: () => this.progress(),
            // A heartbeat that cannot be written is already "stopped" for the relay; nothing more to do here.
            onWriteError: () => undefined,
          });
    if (config.tracking.mode === 'encoder' && deps.encoder === undefined) {
      throw new LinesideError('LS_CONFIG_INVALID', 'tracking.mode: encoder needs an encoder input');
    }
  }

  on<K extends keyof InspectionLineEvents>(event: K, listener: InspectionLineEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  /** Gate to safe state, inputs subscribed, gate to its pass position, then the trigger is armed. */
  start(signal: AbortSignal): Promise<void> {
    if (this.running) return Promise.resolve();
    const { deps } = this;
    this.gate.safe();
    this.alarms.safe();
    if (signal.aborted) return Promise.resolve();
    this.running = true;
    this.stopping = undefined;
    this.encoderStalled = false;
    this.triggersSinceCount = 0;
    this.lastProgressMs = this.clock.now();
    if (deps.encoder !== undefined && deps.config.tracking.mode === 'encoder') {
      this.unsubscribe.push(deps.encoder.onEdge((ev) => this.onEncoderEdge(ev)));
    }
    if (deps.confirm !== undefined) this.unsubscribe.push(deps.confirm.onEdge((ev) => this.onConfirmEdge(ev)));
    if (deps.binFull !== undefined) {
      const binFull = deps.binFull;
      this.unsubscribe.push(
        binFull.onEdge((ev) => {
          if (ev.edge === 'rising') this.alarms.raise('bin_full', `reject bin full (${binFull.name})`);
        }),
      );
      if (binFull.read()) this.alarms.raise('bin_full', `reject bin full at start (${binFull.name})`);
    }
    this.gate.arm();
    this.heartbeat?.start();
    this.unsubscribe.push(deps.trigger.onEdge((ev) => this.onTrigger(ev)));
    this.armed = true;
    return Promise.resolve();
  }

  /**
   * Disarm, let in-flight parts finish and parts on the belt reach the gate (up to pipeline.drain_ms), reject
   * the undecided ones with 'shutdown', then put every output in its safe state. Never throws.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndStop();
    return this.stopping;
  }

  /**
   * For an exit that cannot wait for stop() (a second signal): disarm, withdraw any reject edge planned on the
   * gate thread and put the gate, alarm and heartbeat outputs in their safe state, synchronously. Parts on the
   * belt are not recorded. The drivers' forceSafe() then makes sure of the levels.
   */
  forceSafe(): void {
    this.armed = false;
    this.gate.safe();
    this.heartbeat?.stop();
    this.alarms.safe();
  }

  private async drainAndStop(): Promise<void> {
    if (!this.running) return;
    this.armed = false;
    // The drain also waits for the last pulse to end: safe state would cut it short.
    if ((this.parts.size > 0 || this.gate.isRejecting) && this.deps.config.pipeline.drain_ms > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(() => resolve(), this.deps.config.pipeline.drain_ms);
        this.drained = () => {
          this.clock.clearTimeout(timer);
          resolve();
        };
      });
      this.drained = undefined;
    }
    this.running = false;
    for (const part of [...this.parts.values()]) {
      if (!part.decided) this.decide(part, 'reject', 'shutdown');
    }
    this.gate.disarm();
    for (const part of [...this.parts.values()]) {
      if (part.awaitingConfirm) {
        this.settle(part);
        continue;
      }
      this.counts.safeStateParts++;
      part.record.tracking.outcome = 'safe_state';
      if (part.record.decision === 'reject' && this.deps.config.gate.energised_position === 'reject') {
        this.counts.safeStateRejectsNotFired++;
      }
      this.settle(part);
    }
    this.onBelt.length = 0;
    this.awaitingConfirm.length = 0;
    for (const off of this.unsubscribe.splice(0)) off();
    this.heartbeat?.stop();
    this.alarms.safe();
  }

  /**
   * Acknowledge one alarm by id, or 'all'. Returns the alarms acknowledged (empty: unknown id).
   * Acknowledging gate_write_failed rewrites the gate: the line is healthy again only if that write succeeds.
   */
  acknowledge(idOrAll: string): AlarmRecord[] {
    const acked = this.alarms.acknowledge(idOrAll);
    if (this.gateFault && acked.some((a) => a.kind === 'gate_write_failed')) {
      this.gateFault = false;
      // A failing write sets gateFault again (and raises a new alarm) through onWriteError.
      this.gate.refresh();
    }
    return acked;
  }

  /** Unacknowledged alarms, oldest first. */
  activeAlarms(): AlarmRecord[] {
    return this.alarms.active();
  }

  /**
   * For the systemd watchdog and the heartbeat: true while running (draining included), components healthy, the gate writable,
   * the encoder not stalled, and parts in flight are being decided (every part has a deadline, so a stall means something is stuck).
   */
  progress(): boolean {
    if (!this.running || this.gateFault || this.encoderStalled) return false;
    if (!(this.deps.health?.() ?? true)) return false;
    if (this.inFlight === 0) return true;
    const stallMs = this.deps.captureTimeoutMs + this.deps.inspectTimeoutMs + 1000;
    return this.clock.now() - this.lastProgressMs <= stallMs;
  }

  /** Parts being captured or inspected now. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Triggers accepted as parts so far (summary().triggers.accepted, without building the summary). */
  get acceptedTriggers(): number {
    return this.counts.accepted;
  }

  summary(): LineSummary {
    const c = this.counts;
    const pct = (h: LatencyHistogram): Percentiles => ({ p50: h.percentile(50), p99: h.percentile(99), max: h.max() });
    return {
      runId: this.deps.runId,
      parts: c.parts,
      ok: c.ok,
      reject: c.reject,
      failsafe: { ...this.failsafe },
      gatePulses: this.gate.pulseCount,
      labelled: c.labelled,
      escapes: c.escapes,
      falseRejects: c.falseRejects,
      latencyMs: pct(this.latency),
      gateLatenessMs: pct(this.gateLateness),
      gateLate: c.gateLate,
      triggers: { accepted: c.accepted, double: c.double, missed: c.missed, overlapping: c.overlapping },
      confirm: { confirmed: c.confirmed, unconfirmed: c.unconfirmed, unexpected: c.unexpected },
      alarms: this.alarms.counts(),
      safeState: { parts: c.safeStateParts, rejectsNotFired: c.safeStateRejectsNotFired },
    };
  }

  private onTrigger(ev: EdgeEvent): void {
    if (!this.running) {
      this.counts.missed++;
      return;
    }
    const { config } = this.deps;
    if (this.lastTriggerMs !== undefined && ev.timeMs - this.lastTriggerMs < config.trigger.min_spacing_ms) {
      this.counts.double++;
      return;
    }
    this.lastTriggerMs = ev.timeMs;
    this.counts.accepted++;
    // A real part broke the beam: never drop it (an untracked part passes uninspected). The camera driver
    // serialises captures; the capture deadline turns a camera that cannot keep up into fail-safe rejects.
    if ([...this.parts.values()].some((p) => p.capturing)) this.counts.overlapping++;
    const part = this.createPart(ev);
    this.track(part);
    if (part.decided) return;
    if (!this.armed) {
      // Draining: the gate still works, so the part goes through it rejected rather than by unseen.
      this.decide(part, 'reject', 'shutdown');
      return;
    }
    if (this.inFlight >= config.pipeline.max_in_flight) {
      this.decide(
        part,
        'reject',
        'overrun',
        new LinesideError('LS_PIPELINE_OVERRUN', `${this.inFlight} parts in flight (pipeline.max_in_flight)`),
      );
      return;
    }
    part.holdsSlot = true;
    this.inFlight++;
    void this.inspectPart(part);
  }

  private createPart(ev: EdgeEvent): Part {
    this.seq++;
    const { runId } = this.deps;
    const nowMs = this.clock.now();
    const mode = this.deps.config.tracking.mode;
    const record: PartRecord = {
      seq: this.seq,
      id: `${runId}-${this.seq}`,
      runId,
      triggerMs: ev.timeMs,
      triggeredAt: new Date(this.clock.wallNow() - (nowMs - ev.timeMs)).toISOString(),
      decision: 'reject',
      stagesMs: {},
      tracking: { mode, fired: false, confirmed: null },
    };
    const model = this.deps.modelInfo?.();
    if (model !== undefined) {
      record.modelVersion = model.version;
      record.executionProvider = model.executionProvider;
    }
    const part: Part = {
      record,
      abort: new AbortController(),
      holdsSlot: false,
      capturing: false,
      decided: false,
      gateStage: 'waiting',
      fireAtMs: Number.POSITIVE_INFINITY,
      cancelTimers: [],
      awaitingConfirm: false,
    };
    this.parts.set(record.seq, part);
    this.lastProgressMs = nowMs;
    return part;
  }

  /** Puts the part on the belt: its gate moment (time or count) and its deadline for a verdict. */
  private track(part: Part): void {
    const { tracking, gate } = this.deps.config;
    if (tracking.mode === 'time') {
      const dueMs = part.record.triggerMs + (tracking.distance_mm / tracking.belt_speed_mm_s) * 1000;
      part.record.tracking.dueMs = dueMs;
      part.fireAtMs = dueMs - gate.lead_ms;
      // The verdict deadline is also the reject edge for a late part, so it gets the precise scheduler.
      part.cancelTimers.push(this.gateScheduler.at(part.fireAtMs, () => this.onGateMoment(part)));
      return;
    }
    const dueCount = this.encoderCount + tracking.counts_to_gate;
    part.record.tracking.dueCount = dueCount;
    this.onBelt.push(part);
    part.cancelTimers.push(
      this.coarse.at(part.record.triggerMs + tracking.max_wait_ms, () => {
        if (!part.decided) this.decide(part, 'reject', 'late');
      }),
    );
    // Parts only reach the photo-eye on a moving belt: triggers without counts mean the encoder is dead, and
    // the parts would wait on the belt forever.
    this.triggersSinceCount++;
    if (!this.encoderStalled && this.triggersSinceCount >= tracking.stall_triggers) {
      this.encoderStalled = true;
      this.gate.holdReject();
      this.alarms.raise(
        'encoder_stalled',
        `${this.triggersSinceCount} triggers with no encoder count between them (${this.deps.encoder?.name ?? 'encoder'}): gate held in reject`,
        part.record.id,
      );
    }
    if (!this.encoderStalled) return;
    this.holdUntilCount = Math.max(this.holdUntilCount, dueCount);
    for (const held of this.onBelt.splice(0)) this.settleHeld(held);
  }

  /** Encoder stalled: the gate is held in reject while the part goes by, whatever its verdict. */
  private settleHeld(part: Part): void {
    const rec = part.record;
    if (!part.decided) this.decide(part, 'reject', 'encoder_stalled');
    else if (rec.decision === 'pass') {
      rec.decision = 'reject';
      rec.failsafeReason = 'encoder_stalled';
      this.failsafe.encoder_stalled++;
    }
    part.gateStage = 'done';
    rec.tracking.outcome = 'held_reject';
    this.settle(part);
  }

  private async inspectPart(part: Part): Promise<void> {
    const { deps, clock } = this;
    const rec = part.record;
    let image: CapturedImage;
    const captureStartMs = clock.now();
    part.capturing = true;
    try {
      image = await this.withDeadline(part, deps.captureTimeoutMs, 'LS_CAMERA_TIMEOUT', deps.capture);
    } catch (err) {
      const reason = CAPTURE_REASON[errorCode(err)] ?? 'camera_error';
      this.decide(part, 'reject', reason, err, reason === 'camera_error' ? 'LS_CAMERA_ERROR' : undefined);
      return;
    } finally {
      part.capturing = false;
    }
    rec.stagesMs.capture = clock.now() - captureStartMs;
    rec.source = image.source;
    if (image.label !== undefined) rec.label = image.label;
    if (part.decided) return;
    if (deps.modelReady !== undefined && !deps.modelReady()) {
      this.decide(part, 'reject', 'model_not_ready');
      return;
    }
    let inspection: Inspection;
    try {
      inspection = await this.withDeadline(part, deps.inspectTimeoutMs, 'LS_INFERENCE_FAILED', (signal) =>
        deps.inspect(image, signal),
      );
    } catch (err) {
      const reason = INSPECT_REASON[errorCode(err)] ?? 'inference_error';
      this.decide(part, 'reject', reason, err, reason === 'inference_error' ? 'LS_INFERENCE_FAILED' : undefined);
      return;
    }
    rec.verdict = inspection.verdict;
    rec.defectScore = inspection.defectScore;
    rec.threshold = inspection.threshold;
    rec.stagesMs.preprocess = inspection.preprocessMs;
    rec.stagesMs.inference = inspection.inferenceMs;
    this.decide(part, inspection.verdict === 'defective' ? 'reject' : 'pass');
  }

  /**
   * Runs one port call under a deadline and the part's abort signal. A port that ignores the signal is left
   * to settle on its own; its late result is ignored.
   */
  private withDeadline<T>(
    part: Part,
    timeoutMs: number,
    timeoutCode: ErrorCode,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return withDeadline(fn, {
      timeoutMs,
      signal: part.abort.signal,
      onTimeout: () => new LinesideError(timeoutCode, `no result within ${timeoutMs} ms`),
      onAbort: (reason) => (reason instanceof Error ? reason : new Error('aborted')),
      timers: this.clock,
    });
  }

  private decide(part: Part, decision: Decision, reason?: FailsafeReason, err?: unknown, fallbackCode?: ErrorCode): void {
    if (part.decided) return;
    part.decided = true;
    const rec = part.record;
    const nowMs = this.clock.now();
    rec.decision = decision;
    rec.verdictLatencyMs = nowMs - rec.triggerMs;
    if (reason === undefined) this.latency.record(rec.verdictLatencyMs);
    else {
      rec.failsafeReason = reason;
      this.failsafe[reason]++;
    }
    if (err !== undefined) {
      const code = errorCode(err);
      rec.errorCode = code === 'LS_INTERNAL' && fallbackCode !== undefined ? fallbackCode : code;
      rec.errorMessage = errorMessage(err);
    }
    if (part.holdsSlot) {
      part.holdsSlot = false;
      this.inFlight--;
    }
    this.lastProgressMs = nowMs;
    if (reason !== undefined) part.abort.abort(new LinesideError('LS_INTERNAL', `part decided: ${reason}`));
    this.noteDecision(part);
    this.route(part);
  }

  /** Consecutive-reject and reject-rate alarms, counted in decision order. */
  private noteDecision(part: Part): void {
    const { alarms } = this.deps.config;
    const rejected = part.record.decision === 'reject';
    this.consecutiveRejects = rejected ? this.consecutiveRejects + 1 : 0;
    if (alarms.consecutive_rejects > 0 && rejected && this.consecutiveRejects % alarms.consecutive_rejects === 0) {
      this.alarms.raise('consecutive_rejects', `${this.consecutiveRejects} rejects in a row`, part.record.id);
    }
    this.rateWindow.push(rejected);
    if (rejected) this.rateWindowRejects++;
    if (this.rateWindow.length > alarms.reject_rate_window && this.rateWindow.shift() === true) this.rateWindowRejects--;
    if (alarms.reject_rate_percent > 0 && this.rateWindow.length === alarms.reject_rate_window) {
      const percent = (this.rateWindowRejects / alarms.reject_rate_window) * 100;
      if (percent > alarms.reject_rate_percent) {
        this.alarms.raise(
          'reject_rate',
          `${percent.toFixed(1)}% rejects in the last ${alarms.reject_rate_window} parts (limit ${alarms.reject_rate_percent}%)`,
          part.record.id,
        );
      }
    }
  }

  /** Time mode: hands a decided part to the gate (or waits for it to pass). Encoder mode acts on counts. */
  private route(part: Part): void {
    if (this.deps.config.tracking.mode !== 'time' || part.gateStage !== 'waiting' || !this.running) return;
    for (const cancel of part.cancelTimers.splice(0)) cancel();
    if (part.record.decision === 'reject') {
      this.requestReject(part, part.fireAtMs);
      return;
    }
    const dueMs = part.record.tracking.dueMs ?? this.clock.now();
    part.cancelTimers.push(this.coarse.at(dueMs, () => this.passGate(part)));
  }

  /** Time mode: the part reaches the gate (minus lead) now. */
  private onGateMoment(part: Part): void {
    if (!part.decided) {
      this.decide(part, 'reject', 'late');
      return;
    }
    if (part.gateStage !== 'waiting') return;
    if (part.record.decision === 'reject') this.requestReject(part, part.fireAtMs);
    else this.passGate(part);
  }

  private requestReject(part: Part, startMs: number): void {
    part.gateStage = 'requested';
    if (!this.gate.request(part.record.seq, startMs)) {
      part.gateStage = 'waiting';
    }
  }

  private passGate(part: Part): void {
    part.gateStage = 'done';
    part.record.tracking.outcome = 'passed';
    this.settle(part);
  }

  private onEncoderEdge(ev: EdgeEvent): void {
    this.encoderCount++;
    this.triggersSinceCount = 0;
    this.encoderEdgeMs.push(ev.timeMs);
    if (this.encoderEdgeMs.length > SPEED_WINDOW_EDGES) this.encoderEdgeMs.shift();
    this.encoderLagMs.push(Math.max(0, this.clock.now() - ev.timeMs));
    if (this.encoderLagMs.length > SPEED_WINDOW_EDGES) this.encoderLagMs.shift();
    if (!this.running || this.deps.config.tracking.mode !== 'encoder') return;
    if (this.encoderStalled && this.encoderCount >= this.holdUntilCount) {
      this.encoderStalled = false;
      this.gate.releaseHold();
    }
    const leadCounts = this.encoderLeadCounts();
    let head = this.onBelt[0];
    while (head !== undefined && (head.record.tracking.dueCount ?? 0) - leadCounts <= this.encoderCount) {
      this.onBelt.shift();
      head.record.tracking.leadCounts = leadCounts;
      if (!head.decided) this.decide(head, 'reject', 'late');
      if (head.record.decision === 'reject') this.requestReject(head, this.clock.now());
      else this.passGate(head);
      head = this.onBelt[0];
    }
  }

  /**
   * Counts the belt moves in gate.lead_ms, plus the encoder's delivery lag (drivers deliver edges in batches,
   * after their timestamps), at the speed measured over the last few encoder edges. Rounded up: firing up to
   * one count early is harmless, late is not. 0 until the speed is known.
   */
  private encoderLeadCounts(): number {
    const first = this.encoderEdgeMs[0];
    const last = this.encoderEdgeMs[this.encoderEdgeMs.length - 1];
    if (first === undefined || last === undefined || last <= first) return 0;
    const countsPerMs = (this.encoderEdgeMs.length - 1) / (last - first);
    const lagMs = Math.max(0, ...this.encoderLagMs);
    return Math.ceil((this.deps.config.gate.lead_ms + lagMs) * countsPerMs);
  }

  private onFired(seqs: readonly number[], firedMs: number, requestedMs: number): void {
    for (const seq of seqs) {
      const part = this.parts.get(seq);
      if (part === undefined) continue;
      part.gateStage = 'done';
      const tracking = part.record.tracking;
      const latenessMs = firedMs - requestedMs;
      const maxLatenessMs = this.deps.config.gate.max_lateness_ms;
      tracking.fired = true;
      tracking.firedMs = firedMs;
      tracking.outcome = latenessMs > maxLatenessMs ? 'fired_late' : 'fired';
      tracking.gateLatenessMs = latenessMs;
      this.gateLateness.record(latenessMs);
      if (latenessMs > maxLatenessMs) {
        this.counts.gateLate++;
        this.alarms.raise(
          'gate_late',
          `gate fired ${latenessMs.toFixed(1)} ms late for part ${part.record.id} (gate.max_lateness_ms ${maxLatenessMs}): it may have passed`,
          part.record.id,
        );
      }
      const { confirm } = this.deps.config;
      if (this.deps.confirm === undefined || confirm === undefined) {
        this.settle(part);
        continue;
      }
      part.awaitingConfirm = true;
      this.awaitingConfirm.push(part);
      part.cancelTimers.push(
        this.coarse.at(firedMs + confirm.window_ms, () => {
          if (!part.awaitingConfirm) return;
          this.removeAwaiting(part);
          tracking.confirmed = false;
          this.counts.unconfirmed++;
          this.alarms.raise(
            'reject_not_confirmed',
            `reject of part ${part.record.id} not confirmed within ${confirm.window_ms} ms`,
            part.record.id,
          );
          this.settle(part);
        }),
      );
    }
  }

  /** Each confirm edge confirms the oldest fired part still waiting for one. */
  private onConfirmEdge(ev: EdgeEvent): void {
    const part = this.awaitingConfirm.find((p) => (p.record.tracking.firedMs ?? Number.POSITIVE_INFINITY) <= ev.timeMs);
    if (part === undefined) {
      this.counts.unexpected++;
      return;
    }
    this.removeAwaiting(part);
    part.record.tracking.confirmed = true;
    this.counts.confirmed++;
    this.settle(part);
  }

  private removeAwaiting(part: Part): void {
    part.awaitingConfirm = false;
    const i = this.awaitingConfirm.indexOf(part);
    if (i >= 0) this.awaitingConfirm.splice(i, 1);
  }

  private onGateWriteError(err: unknown, seqs: readonly number[]): void {
    this.gateFault = true;
    this.alarms.raise('gate_write_failed', `reject gate write failed: ${errorMessage(err)}`);
    for (const seq of seqs) {
      const part = this.parts.get(seq);
      if (part === undefined) continue;
      part.gateStage = 'done';
      part.record.errorCode = 'LS_GPIO_WRITE';
      part.record.errorMessage = errorMessage(err);
      this.settle(part);
    }
  }

  private settle(part: Part): void {
    const seq = part.record.seq;
    if (!this.parts.has(seq)) return;
    this.parts.delete(seq);
    for (const cancel of part.cancelTimers.splice(0)) cancel();
    const i = this.onBelt.indexOf(part);
    if (i >= 0) this.onBelt.splice(i, 1);
    const rec = part.record;
    const c = this.counts;
    c.parts++;
    if (rec.decision === 'pass') c.ok++;
    else c.reject++;
    if (rec.label !== undefined) {
      c.labelled++;
      if (rec.label === 'defective' && rec.decision === 'pass') c.escapes++;
      if (rec.label === 'ok' && rec.decision === 'reject') c.falseRejects++;
    }
    this.lastProgressMs = this.clock.now();
    this.events.emit('part', rec);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.parts.size === 0 && !this.gate.isRejecting) this.drained?.();
  }
}
