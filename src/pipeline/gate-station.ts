import type { ConfirmConfig, GateConfig } from '../config/sections/line.js';
import type { DigitalOutput, EdgeInput, TimedSwitch } from '../domain/ports.js';
import { type ErrorCode, errorCode, errorMessage } from '../errors.js';
import type { AlarmManager, AlarmRecord } from './alarms.js';
import type { Clock } from './clock.js';
import { ConfirmMatcher } from './confirm.js';
import { GateController } from './gate-controller.js';
import type { LineHealth } from './line-health.js';
import type { LineStats } from './line-stats.js';
import type { Part, PartTable } from './part.js';
import type { Scheduler } from './scheduler.js';

export interface GateStationDeps {
  gateConfig: GateConfig;
  confirmConfig: ConfirmConfig | undefined;
  output: DigitalOutput;
  /** The confirm sensor; rejects are confirmed only when it and confirmConfig are both there. */
  confirmInput: EdgeInput | undefined;
  /** Times reject edges off the event loop (the gate thread); gateScheduler stays the fallback. */
  gateTimer: TimedSwitch | undefined;
  clock: Clock;
  gateScheduler: Scheduler;
  coarse: Scheduler;
  parts: PartTable;
  stats: LineStats;
  alarms: AlarmManager;
  health: LineHealth;
  /** The part is done at the gate (passed, fired and confirmed, held, or its write failed): settle it. */
  done: (part: Part) => void;
  /** The gate fired for a part still undecided: the line rejects it 'late' (and hands it back through take). */
  late: (part: Part) => void;
  /** A pulse ended and the gate is back in its pass position (the drain waits for this). */
  onClosed: () => void;
}

/**
 * The reject gate and what it does for each decided part: the reject request (timed and merged by the gate
 * controller), how the firing went (on time or late), the confirm sensor, failed writes, and the hold while
 * tracking is lost. Parts arrive 'decided' and leave through deps.done.
 */
export class GateStation {
  private readonly gate: GateController;
  private readonly confirm: ConfirmMatcher | undefined;
  /** Parts with a provisional reject standing at the gate controller (seq). */
  private readonly standing = new Set<number>();
  /** The driver reported the gate output lost (GpioDriver.onError): rejects are not proven to move the gate. */
  private outputDown: { code: ErrorCode; message: string } | undefined;

  constructor(private readonly deps: GateStationDeps) {
    this.gate = this.createGate();
    this.confirm = this.createConfirm();
  }

  /** Gate activations (a merged pulse counts once). */
  get pulseCount(): number {
    return this.gate.pulseCount;
  }

  get isRejecting(): boolean {
    return this.gate.isRejecting;
  }

  /** The gate to its safe state: at boot, before anything else touches it. */
  safe(): void {
    this.gate.safe();
  }

  /** Listens to the confirm sensor and takes the gate out of safe state into its pass position. */
  arm(): void {
    this.confirm?.start();
    this.gate.arm();
  }

  /** Back to safe state: pending rejects are dropped (the line accounts for their parts), the confirm sensor is let go. */
  disarm(): void {
    this.gate.disarm();
    this.standing.clear();
    this.confirm?.stop();
  }

  /**
   * Plans the reject for a part that is not decided yet, at its gate moment (time tracking): on the gate thread
   * where there is one, so that a late part's edge is as punctual as a decided one's and the event loop never
   * holds for it. A pass verdict withdraws it; a reject verdict keeps it.
   */
  provisional(part: Part, rejectFromMs: number): void {
    if (this.gate.request(part.record.seq, rejectFromMs)) this.standing.add(part.record.seq);
  }

  /**
   * Withdraws the part's provisional reject. False when too late: the gate fired for the part, or will be open
   * when it gets there, and onFired records it as the reject it physically is.
   */
  withdraw(part: Part): boolean {
    if (!this.standing.delete(part.record.seq)) return true;
    return this.gate.withdraw(part.record.seq);
  }

  /**
   * A decided part at its gate moment (a reject may come ahead of it: the controller times it from rejectFromMs).
   * A pass is done at once; a reject waits at the gate for the controller.
   */
  take(part: Part, rejectFromMs: number): void {
    const { parts, done } = this.deps;
    if (part.decision === 'pass') {
      part.record.tracking.outcome = 'passed';
      done(part);
      return;
    }
    parts.move(part, 'at_gate');
    // A provisional reject already stands for it.
    if (this.standing.delete(part.record.seq)) return;
    // Refused while disarmed: the gate is in its safe state and will not move for this part.
    if (!this.gate.request(part.record.seq, rejectFromMs)) parts.move(part, 'decided');
  }

  /** Holds the gate in reject until releaseHold(), for when the line no longer knows where its parts are. */
  hold(): void {
    this.gate.holdReject();
  }

  releaseHold(): void {
    this.gate.releaseHold();
  }

  /** A decided part that goes by while the gate is held: rejected whatever its verdict. */
  heldReject(part: Part): void {
    const rec = part.record;
    if (rec.decision === 'pass') {
      rec.decision = 'reject';
      rec.failsafeReason = 'encoder_stalled';
      this.deps.stats.overturned('encoder_stalled');
    }
    rec.tracking.outcome = 'held_reject';
    this.deps.done(part);
  }

  /**
   * The driver lost the gate output after start. Until gpio_unavailable is acknowledged and a rewrite of the gate
   * succeeds, every reject is recorded not fired with the driver's error: its write may never reach the gate.
   */
  outputFault(err: unknown): void {
    this.outputDown = {
      code: errorCode(err) === 'LS_GPIO_WRITE' ? 'LS_GPIO_WRITE' : 'LS_GPIO_UNAVAILABLE',
      message: errorMessage(err),
    };
  }

  /**
   * Acknowledging gate_write_failed (or gpio_unavailable after the gate output was lost) rewrites the gate: the
   * line is healthy again only if that write succeeds.
   */
  acknowledged(alarms: readonly AlarmRecord[]): void {
    if (this.outputDown !== undefined && alarms.some((a) => a.kind === 'gpio_unavailable') && this.gate.refresh()) {
      this.outputDown = undefined;
    }
    const { health } = this.deps;
    if (!health.has('gate_write') || !alarms.some((a) => a.kind === 'gate_write_failed')) return;
    health.clear('gate_write');
    // A failing write sets the fault again (and raises a new alarm) through onWriteError.
    this.gate.refresh();
  }

  private onFired(seqs: readonly number[], firedMs: number, requestedMs: number): void {
    const { parts, stats, alarms } = this.deps;
    const maxLatenessMs = this.deps.gateConfig.max_lateness_ms;
    for (const seq of seqs) {
      const part = parts.get(seq);
      if (part === undefined) continue;
      this.committed(part);
      if (this.outputDown !== undefined) {
        this.notFired(part, this.outputDown);
        continue;
      }
      const tracking = part.record.tracking;
      const latenessMs = firedMs - requestedMs;
      const late = latenessMs > maxLatenessMs;
      tracking.fired = true;
      tracking.firedMs = firedMs;
      tracking.outcome = late ? 'fired_late' : 'fired';
      tracking.gateLatenessMs = latenessMs;
      stats.gateFired(latenessMs, late);
      if (late) {
        const id = part.record.id;
        const limit = `gate.max_lateness_ms ${maxLatenessMs}`;
        alarms.raise(
          'gate_late',
          `gate fired ${latenessMs.toFixed(1)} ms late for part ${id} (${limit}): it may have passed`,
          id,
        );
      }
      if (this.confirm === undefined) {
        this.deps.done(part);
        continue;
      }
      parts.move(part, 'awaiting_confirm');
      this.confirm.expect(part, firedMs);
    }
  }

  /**
   * The gate went to reject for a part at its moment. Its provisional reject stood: undecided, it is rejected
   * 'late'; judged ok too late to withdraw (the edge was switched, or an open pulse covered its moment), it is
   * recorded as the reject it physically was, 'late' as well.
   */
  private committed(part: Part): void {
    if (part.undecided) this.deps.late(part);
    this.standing.delete(part.record.seq);
    if (part.phase !== 'decided') return;
    const rec = part.record;
    if (rec.decision === 'pass') {
      rec.decision = 'reject';
      rec.failsafeReason = 'late';
      this.deps.stats.overturned('late');
    }
    this.deps.parts.move(part, 'at_gate');
  }

  private onConfirmResult(part: Part, confirmed: boolean): void {
    const { stats, alarms } = this.deps;
    if (confirmed) stats.confirm.confirmed++;
    else {
      stats.confirm.unconfirmed++;
      const windowMs = this.deps.confirmConfig?.window_ms;
      alarms.raise(
        'reject_not_confirmed',
        `reject of part ${part.record.id} not confirmed within ${windowMs} ms`,
        part.record.id,
      );
    }
    this.deps.done(part);
  }

  private onWriteError(err: unknown, seqs: readonly number[]): void {
    this.deps.health.fault('gate_write');
    this.deps.alarms.raise('gate_write_failed', `reject gate write failed: ${errorMessage(err)}`);
    for (const seq of seqs) {
      const part = this.deps.parts.get(seq);
      if (part !== undefined) this.notFired(part, { code: 'LS_GPIO_WRITE', message: errorMessage(err) });
    }
  }

  /** The gate was not (provably) moved for this reject: it may have passed. */
  private notFired(part: Part, fault: { code: ErrorCode; message: string }): void {
    part.record.errorCode = fault.code;
    part.record.errorMessage = fault.message;
    part.record.tracking.outcome = 'not_fired';
    this.deps.stats.notFired();
    this.deps.done(part);
  }

  private createGate(): GateController {
    const { deps } = this;
    const config = deps.gateConfig;
    return new GateController({
      output: deps.output,
      clock: deps.clock,
      scheduler: deps.gateScheduler,
      ...(deps.gateTimer === undefined ? {} : { timed: deps.gateTimer }),
      coarse: deps.coarse,
      pulseMs: config.pulse_ms,
      minGapMs: config.min_gap_ms,
      merge: config.merge,
      energisedPosition: config.energised_position,
      onFired: (seqs, firedMs, requestedMs) => this.onFired(seqs, firedMs, requestedMs),
      onWriteError: (err, seqs) => this.onWriteError(err, seqs),
      onClosed: () => deps.onClosed(),
    });
  }

  private createConfirm(): ConfirmMatcher | undefined {
    const { confirmInput: input, confirmConfig: config } = this.deps;
    if (input === undefined || config === undefined) return undefined;
    return new ConfirmMatcher({
      input,
      windowMs: config.window_ms,
      coarse: this.deps.coarse,
      onResult: (part, confirmed) => this.onConfirmResult(part, confirmed),
      onUnexpected: () => this.deps.stats.confirm.unexpected++,
    });
  }
}
