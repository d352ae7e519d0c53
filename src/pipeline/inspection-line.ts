import type { Decision } from '../domain/part.js';
import type { EdgeEvent, Lifecycle } from '../domain/ports.js';
import { LinesideError, errorMessage } from '../errors.js';
import { AlarmManager, type AlarmKind, type AlarmRecord, watchBinFull } from './alarms.js';
import { type Clock, systemClock } from './clock.js';
import { Emitter } from './emitter.js';
import { GateStation } from './gate-station.js';
import { Heartbeat } from './heartbeat.js';
import { InOrder } from './in-order.js';
import { type InspectPartDeps, inspectPart } from './inspect-part.js';
import type { InspectionLineDeps, InspectionLineEvents } from './line-deps.js';
import { LineHealth } from './line-health.js';
import { LineStats, type LineSummary } from './line-stats.js';
import { type Failsafe, Part, PartTable, newPartRecord } from './part.js';
import { RejectMonitor } from './reject-monitor.js';
import { PreciseScheduler, type Scheduler, TimeoutScheduler } from './scheduler.js';
import { type Tracker, createTracker } from './tracking/index.js';

export type { CaptureFn, InspectFn } from './inspect-part.js';
export type { Percentiles } from './latency-histogram.js';
export type { InspectionLineConfig, InspectionLineDeps, InspectionLineEvents } from './line-deps.js';
export type { LineSummary } from './line-stats.js';

/**
 * The inspection line: trigger -> capture -> inspect -> decision -> tracking -> gate -> confirm -> 'part'.
 * This class is the coordinator: it accepts triggers, moves each part through its phases (part.ts) and settles
 * it; the jobs live in their own modules: inspect-part.ts (capture and inspection under deadlines), tracking/
 * (where parts are), gate-station.ts (the gate and the confirm sensor), reject-monitor.ts, line-stats.ts and
 * line-health.ts.
 * Pure logic: every port and the clock are injected. Fail-safe: any part without a timely model verdict is
 * rejected with a reason code.
 */
export class InspectionLine implements Lifecycle {
  private readonly events = new Emitter<InspectionLineEvents>();
  private readonly clock: Clock;
  private readonly coarse: Scheduler;
  private readonly gate: GateStation;
  private readonly alarms: AlarmManager;
  private readonly heartbeat: Heartbeat | undefined;
  private readonly tracker: Tracker;
  private readonly rejects: RejectMonitor;
  private readonly stats = new LineStats();
  private readonly health: LineHealth;
  private readonly parts = new PartTable();
  private readonly inspectDeps: InspectPartDeps;
  /** Completed records leave in part order (docs/mqtt.md). */
  private readonly released = new InOrder<Part>((part) => this.events.emit('part', part.record, part.image));

  /** Triggers become parts (while draining too: they are rejected 'shutdown' through the gate). */
  private running = false;
  /** Parts are inspected; false while draining. */
  private armed = false;
  private stopping: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private seq = 0;
  private lastTriggerMs: number | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: InspectionLineDeps) {
    const { config } = deps;
    this.clock = deps.clock ?? systemClock();
    this.coarse = new TimeoutScheduler({ clock: this.clock });
    const gateScheduler =
      deps.gateScheduler ?? new PreciseScheduler({ clock: this.clock, holdMs: config.gate.hold_ms });
    this.alarms = new AlarmManager({
      runId: deps.runId,
      clock: this.clock,
      ...(deps.alarmOutput === undefined ? {} : { output: deps.alarmOutput }),
      onRaised: (alarm) => this.events.emit('alarm', alarm),
      onAcknowledged: (alarms) => this.events.emit('alarm_acknowledged', alarms),
      onOutputError: (err) => this.alarms.raise('output_write_failed', `alarm output: ${errorMessage(err)}`),
    });
    this.heartbeat = this.createHeartbeat();
    this.rejects = new RejectMonitor({ config: config.alarms, raise: (...alarm) => this.alarms.raise(...alarm) });
    this.health = new LineHealth({
      clock: this.clock,
      stallMs: deps.captureTimeoutMs + deps.inspectTimeoutMs + 1000,
      ...(deps.health === undefined ? {} : { components: deps.health }),
    });
    this.gate = this.createGateStation(gateScheduler);
    this.tracker = this.createTracker();
    const { capture, inspect, captureTimeoutMs, inspectTimeoutMs, modelReady } = deps;
    const ready = modelReady === undefined ? {} : { modelReady };
    this.inspectDeps = { capture, inspect, captureTimeoutMs, inspectTimeoutMs, ...ready, clock: this.clock };
  }

  on<K extends keyof InspectionLineEvents>(event: K, listener: InspectionLineEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  /** Gate to safe state, inputs subscribed, gate to its pass position, then the trigger is armed. */
  start(signal: AbortSignal): Promise<void> {
    if (this.running) return Promise.resolve();
    this.gate.safe();
    this.alarms.safe();
    if (signal.aborted) return Promise.resolve();
    this.running = true;
    this.stopping = undefined;
    this.health.progressed();
    this.tracker.start();
    if (this.deps.binFull !== undefined) this.unsubscribe.push(watchBinFull(this.deps.binFull, this.alarms));
    this.gate.arm();
    this.heartbeat?.start();
    this.unsubscribe.push(this.deps.trigger.onEdge((ev) => this.onTrigger(ev)));
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
   * belt are not recorded, and nothing that happens after (a trigger, an inspection finishing, an alarm) moves an
   * output again. The drivers' forceSafe() then makes sure of the levels.
   */
  forceSafe(): void {
    this.armed = false;
    this.running = false;
    for (const off of this.unsubscribe.splice(0)) off();
    this.gate.safe();
    this.heartbeat?.stop();
    this.alarms.holdSafe();
  }

  /**
   * Acknowledge one alarm by id, or 'all'. Returns the alarms acknowledged (empty: unknown id).
   * Acknowledging gate_write_failed rewrites the gate: the line is healthy again only if that write succeeds.
   */
  acknowledge(idOrAll: string): AlarmRecord[] {
    const acked = this.alarms.acknowledge(idOrAll);
    if (acked.some((a) => a.kind === 'gpio_unavailable')) this.health.clear('gpio');
    this.gate.acknowledged(acked);
    return acked;
  }

  /**
   * A GPIO driver lost one of the line's inputs or outputs after start (GpioDriver.onError): a monitor or supervisor
   * process died, an asynchronous write failed. Raises gpio_unavailable and keeps the line unhealthy (watchdog
   * pings and the heartbeat stop) until that alarm is acknowledged. On the gate output, rejects from now on are
   * recorded not fired until then (GateStation.outputFault): nothing proves the gate moves.
   */
  lineFault(line: string, err: unknown): void {
    this.health.fault('gpio');
    this.alarms.raise('gpio_unavailable', `gpio line "${line}": ${errorMessage(err)}`);
    if (line === this.deps.gate.name) this.gate.outputFault(err);
  }

  /** An alarm from outside the line's jobs (the line record's storage): the same output, events, acknowledgement. */
  raiseAlarm(kind: AlarmKind, message: string): AlarmRecord {
    return this.alarms.raise(kind, message);
  }

  /** Unacknowledged alarms, oldest first. */
  activeAlarms(): AlarmRecord[] {
    return this.alarms.active();
  }

  /** For the systemd watchdog and the heartbeat (line-health.ts says what counts). */
  progress(): boolean {
    return this.health.healthy({
      running: this.running,
      inFlight: this.parts.inFlight,
      trackingHealthy: this.tracker.healthy,
    });
  }

  /** Parts being captured or inspected now. */
  get inFlightCount(): number {
    return this.parts.inFlight;
  }

  /** Triggers accepted as parts so far (summary().triggers.accepted, without building the summary). */
  get acceptedTriggers(): number {
    return this.stats.triggers.accepted;
  }

  summary(): LineSummary {
    const { runId } = this.deps;
    return this.stats.summary({ runId, gatePulses: this.gate.pulseCount, alarms: this.alarms.counts() });
  }

  private async drainAndStop(): Promise<void> {
    if (!this.running) return;
    this.armed = false;
    const { drain_ms: drainMs } = this.deps.config.pipeline;
    // The drain also waits for the last pulse to end: safe state would cut it short.
    if ((this.parts.size > 0 || this.gate.isRejecting) && drainMs > 0) await this.drain(drainMs);
    this.running = false;
    for (const part of this.parts.snapshot()) {
      if (part.undecided) this.decide(part, 'reject', { reason: 'shutdown' });
    }
    this.gate.disarm();
    const safeStatePasses = this.deps.config.gate.energised_position === 'reject';
    for (const part of this.parts.snapshot()) {
      if (part.phase !== 'awaiting_confirm') {
        part.record.tracking.outcome = 'safe_state';
        this.stats.leftToSafeState(part.record, safeStatePasses);
      }
      this.settle(part);
    }
    this.tracker.stop();
    for (const off of this.unsubscribe.splice(0)) off();
    this.heartbeat?.stop();
    this.alarms.safe();
  }

  /** Resolves when every part has settled and the gate is back in pass, or after drainMs. */
  private drain(drainMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(), drainMs);
      this.drained = () => {
        this.clock.clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.drained = undefined;
    });
  }

  private checkDrained(): void {
    if (this.parts.size === 0 && !this.gate.isRejecting) this.drained?.();
  }

  private onTrigger(ev: EdgeEvent): void {
    if (!this.acceptTrigger(ev)) return;
    // A real part broke the beam: never drop it (an untracked part passes uninspected). The camera driver
    // serialises captures; the capture deadline turns a camera that cannot keep up into fail-safe rejects.
    if (this.parts.some((p) => p.phase === 'capturing')) this.stats.triggers.overlapping++;
    const part = this.createPart(ev);
    this.tracker.track(part);
    if (!part.undecided) return;
    if (!this.armed) {
      // Draining: the gate still works, so the part goes through it rejected rather than by unseen.
      this.decide(part, 'reject', { reason: 'shutdown' });
      return;
    }
    const inFlight = this.parts.inFlight;
    if (inFlight >= this.deps.config.pipeline.max_in_flight) {
      const message = `${inFlight} parts in flight (pipeline.max_in_flight)`;
      this.decide(part, 'reject', { reason: 'overrun', fault: { code: 'LS_PIPELINE_OVERRUN', message } });
      return;
    }
    this.parts.move(part, 'capturing');
    void this.inspect(part);
  }

  /** Counts the trigger; false for one that makes no part (line not running, or a double trigger). */
  private acceptTrigger(ev: EdgeEvent): boolean {
    const counts = this.stats.triggers;
    if (!this.running) {
      counts.missed++;
      return false;
    }
    if (this.lastTriggerMs !== undefined && ev.timeMs - this.lastTriggerMs < this.deps.config.trigger.min_spacing_ms) {
      counts.double++;
      return false;
    }
    this.lastTriggerMs = ev.timeMs;
    counts.accepted++;
    return true;
  }

  private createPart(ev: EdgeEvent): Part {
    const { runId, config } = this.deps;
    const nowMs = this.clock.now();
    this.seq++;
    const record = newPartRecord({
      runId,
      seq: this.seq,
      mode: config.tracking.mode,
      triggerMs: ev.timeMs,
      nowMs,
      wallNowMs: this.clock.wallNow(),
      model: this.deps.modelInfo?.(),
    });
    const part = new Part(record);
    this.parts.add(part);
    this.health.progressed(nowMs);
    return part;
  }

  private async inspect(part: Part): Promise<void> {
    const outcome = await inspectPart(this.inspectDeps, part.abort.signal, ({ image, captureMs }) => {
      part.captured(image, captureMs);
      if (part.phase === 'capturing') this.parts.move(part, 'inspecting');
    });
    if (outcome.kind === 'abandoned') return;
    if (outcome.kind === 'failsafe') {
      this.decide(part, 'reject', outcome);
      return;
    }
    part.inspected(outcome.inspection);
    this.decide(part, outcome.inspection.verdict === 'defective' ? 'reject' : 'pass');
  }

  /** Decides an undecided part (no-op once decided): a model verdict, or a fail-safe reject. */
  private decide(part: Part, decision: Decision, failsafe?: Failsafe): void {
    if (!part.undecided) return;
    const nowMs = this.clock.now();
    part.recordDecision(decision, nowMs, failsafe);
    this.parts.move(part, 'decided');
    this.stats.decided(part.record);
    this.health.progressed(nowMs);
    if (failsafe !== undefined) part.abort.abort(new LinesideError('LS_INTERNAL', `part decided: ${failsafe.reason}`));
    this.rejects.note(part.record);
    if (this.running) this.tracker.decided(part);
  }

  /** See TrackerHost.toGate. */
  private toGate(part: Part, rejectFromMs: number): void {
    if (part.undecided) this.decide(part, 'reject', { reason: 'late' });
    if (part.phase === 'decided') this.gate.take(part, rejectFromMs);
  }

  /** Encoder stalled: the gate is held in reject while the part goes by, whatever its verdict. */
  private settleHeld(part: Part): void {
    if (part.undecided) this.decide(part, 'reject', { reason: 'encoder_stalled' });
    this.gate.heldReject(part);
  }

  /** The part is complete: counted, forgotten and emitted in part order. The one place a record leaves the line. */
  private settle(part: Part): void {
    if (part.phase === 'settled') return;
    this.parts.move(part, 'settled');
    part.cancelTimers();
    this.tracker.forget(part);
    this.stats.settled(part.record);
    this.health.progressed();
    this.released.add(part.record.seq, part);
    this.checkDrained();
  }

  private createGateStation(gateScheduler: Scheduler): GateStation {
    const { deps } = this;
    return new GateStation({
      gateConfig: deps.config.gate,
      confirmConfig: deps.config.confirm,
      output: deps.gate,
      confirmInput: deps.confirm,
      gateTimer: deps.gateTimer,
      clock: this.clock,
      gateScheduler,
      coarse: this.coarse,
      parts: this.parts,
      stats: this.stats,
      alarms: this.alarms,
      health: this.health,
      done: (part) => this.settle(part),
      late: (part) => this.decide(part, 'reject', { reason: 'late' }),
      onClosed: () => this.checkDrained(),
    });
  }

  private createHeartbeat(): Heartbeat | undefined {
    const { heartbeat } = this.deps;
    const config = this.deps.config.heartbeat;
    if (heartbeat === undefined || config === undefined) return undefined;
    return new Heartbeat({
      output: heartbeat,
      clock: this.clock,
      periodMs: config.period_ms,
      healthy: () => this.progress(),
      // A heartbeat that cannot be written is already "stopped" for the relay; nothing more to do here.
      onWriteError: () => undefined,
    });
  }

  private createTracker(): Tracker {
    const { config, encoder } = this.deps;
    return createTracker({
      config: config.tracking,
      encoder,
      leadMs: config.gate.lead_ms,
      clock: this.clock,
      coarse: this.coarse,
      host: {
        provisional: (part, rejectFromMs) => this.gate.provisional(part, rejectFromMs),
        withdraw: (part) => this.gate.withdraw(part),
        toGate: (part, rejectFromMs) => this.toGate(part, rejectFromMs),
        late: (part) => this.decide(part, 'reject', { reason: 'late' }),
        holdGate: (message, partId) => {
          this.gate.hold();
          this.alarms.raise('encoder_stalled', message, partId);
        },
        releaseHold: () => this.gate.releaseHold(),
        settleHeld: (part) => this.settleHeld(part),
      },
    });
  }
}
