import type { TrackingConfig } from '../../config/sections/line.js';
import type { EdgeEvent, EdgeInput } from '../../domain/ports.js';
import type { Clock } from '../clock.js';
import type { Part } from '../part.js';
import type { Scheduler } from '../scheduler.js';
import type { Tracker, TrackerHost } from './tracker.js';

/** Encoder edges over which the belt speed (and the drivers' delivery lag) is measured. */
const SPEED_WINDOW_EDGES = 5;

export interface EncoderTrackerDeps {
  config: Extract<TrackingConfig, { mode: 'encoder' }>;
  encoder: EdgeInput;
  /** gate.lead_ms: the gate acts this long before the part is due, to give the actuator time to move. */
  leadMs: number;
  clock: Clock;
  /** Times the verdict deadline on a stopped belt (tracking.max_wait_ms). */
  coarse: Scheduler;
  host: TrackerHost;
}

/**
 * Encoder tracking: a part is due at the gate counts_to_gate encoder counts after its trigger, whatever the
 * belt does meanwhile (stops, slows down). Triggers without counts between them mean the encoder is dead while
 * the belt moves: the gate is then held in reject until the parts it covers have gone by.
 */
export class EncoderTracker implements Tracker {
  private encoderCounts = 0;
  private readonly edgeTimesMs: number[] = [];
  /** How long after their timestamp the last few encoder edges were delivered (drivers batch them). */
  private readonly edgeLagsMs: number[] = [];
  /** Parts not yet at the gate, in belt order. */
  private readonly onBelt: Part[] = [];
  /** Triggers kept coming with no encoder count; the gate is held in reject. */
  private stalled = false;
  /** The count at which the last part covered by the stall hold has passed the gate. */
  private holdUntilCounts = 0;
  private triggersSinceCount = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: EncoderTrackerDeps) {}

  get healthy(): boolean {
    return !this.stalled;
  }

  start(): void {
    this.stalled = false;
    this.triggersSinceCount = 0;
    this.unsubscribe ??= this.deps.encoder.onEdge((ev) => this.onEdge(ev));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.onBelt.length = 0;
  }

  track(part: Part): void {
    const { config, host } = this.deps;
    const dueCount = this.encoderCounts + config.counts_to_gate;
    part.record.tracking.dueCount = dueCount;
    this.onBelt.push(part);
    part.addTimer(this.deps.coarse.at(part.record.triggerMs + config.max_wait_ms, () => host.late(part)));
    // Parts only reach the photo-eye on a moving belt: triggers without counts mean the encoder is dead, and
    // the parts would wait on the belt forever.
    this.triggersSinceCount++;
    if (!this.stalled && this.triggersSinceCount >= config.stall_triggers) {
      this.stalled = true;
      host.holdGate(
        `${this.triggersSinceCount} triggers with no encoder count between them (${this.deps.encoder.name}): gate held in reject`,
        part.record.id,
      );
    }
    if (!this.stalled) return;
    this.holdUntilCounts = Math.max(this.holdUntilCounts, dueCount);
    for (const held of this.onBelt.splice(0)) host.settleHeld(held);
  }

  decided(): void {}

  forget(part: Part): void {
    const i = this.onBelt.indexOf(part);
    if (i >= 0) this.onBelt.splice(i, 1);
  }

  private onEdge(ev: EdgeEvent): void {
    const { clock, host } = this.deps;
    this.encoderCounts++;
    this.triggersSinceCount = 0;
    pushWindow(this.edgeTimesMs, ev.timeMs);
    pushWindow(this.edgeLagsMs, Math.max(0, clock.now() - ev.timeMs));
    if (this.stalled && this.encoderCounts >= this.holdUntilCounts) {
      this.stalled = false;
      host.releaseHold();
    }
    const leadCounts = this.leadCounts();
    let head = this.onBelt[0];
    while (head !== undefined && (head.record.tracking.dueCount ?? 0) - leadCounts <= this.encoderCounts) {
      this.onBelt.shift();
      head.record.tracking.leadCounts = leadCounts;
      host.toGate(head, clock.now());
      head = this.onBelt[0];
    }
  }

  /**
   * Counts the belt moves in gate.lead_ms, plus the encoder's delivery lag (drivers deliver edges in batches,
   * after their timestamps), at the speed measured over the last few encoder edges. Rounded up: firing up to
   * one count early is harmless, late is not. 0 until the speed is known.
   */
  private leadCounts(): number {
    const first = this.edgeTimesMs[0];
    const last = this.edgeTimesMs[this.edgeTimesMs.length - 1];
    if (first === undefined || last === undefined || last <= first) return 0;
    const countsPerMs = (this.edgeTimesMs.length - 1) / (last - first);
    const lagMs = Math.max(0, ...this.edgeLagsMs);
    return Math.ceil((this.deps.leadMs + lagMs) * countsPerMs);
  }
}

function pushWindow(window: number[], value: number): void {
  window.push(value);
  if (window.length > SPEED_WINDOW_EDGES) window.shift();
}
