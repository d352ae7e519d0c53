import type { TrackingConfig } from '../../config/sections/line.js';
import type { Scheduler } from '../scheduler.js';
import type { Part } from '../part.js';
import type { Tracker, TrackerHost } from './tracker.js';

export interface TimeTrackerDeps {
  config: Extract<TrackingConfig, { mode: 'time' }>;
  /** gate.lead_ms: the gate acts this long before the part is due, to give the actuator time to move. */
  leadMs: number;
  /**
   * Times passes going by and the verdict deadline: a millisecond late does no harm to either, since the reject
   * edge itself is planned with the gate (provisional reject) when the part is tracked.
   */
  coarse: Scheduler;
  host: TrackerHost;
}

/** Time tracking: a part is due at the gate distance / speed after its trigger. */
export class TimeTracker implements Tracker {
  readonly healthy = true;
  private readonly travelMs: number;

  constructor(private readonly deps: TimeTrackerDeps) {
    this.travelMs = (deps.config.distance_mm / deps.config.belt_speed_mm_s) * 1000;
  }

  start(): void {}

  stop(): void {}

  /**
   * The part's reject edge is planned at once (provisional), so a late part is rejected on time by the gate
   * thread however busy the event loop is; the verdict deadline on the loop only records it 'late'.
   */
  track(part: Part): void {
    const { host, coarse } = this.deps;
    part.record.tracking.dueMs = this.dueMs(part);
    const fireAtMs = this.fireAtMs(part);
    host.provisional(part, fireAtMs);
    part.addTimer(coarse.at(fireAtMs, () => host.late(part)));
  }

  /**
   * A reject goes to the gate at once (its provisional reject stands; the controller times and merges it). A pass
   * withdraws it and waits until it goes by, unless it was too late to withdraw (the gate records the reject).
   */
  decided(part: Part): void {
    const { host, coarse } = this.deps;
    part.cancelTimers();
    const fireAtMs = this.fireAtMs(part);
    if (part.decision === 'reject') host.toGate(part, fireAtMs);
    else if (host.withdraw(part)) part.addTimer(coarse.at(this.dueMs(part), () => host.toGate(part, fireAtMs)));
  }

  forget(): void {}

  private dueMs(part: Part): number {
    return part.record.triggerMs + this.travelMs;
  }

  /** The planned gate activation: due minus the actuator lead. */
  private fireAtMs(part: Part): number {
    return this.dueMs(part) - this.deps.leadMs;
  }
}
