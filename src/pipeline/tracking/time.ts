import type { TrackingConfig } from '../../config/sections/line.js';
import type { Part } from '../part.js';
import type { Scheduler } from '../scheduler.js';
import type { Tracker, TrackerHost } from './tracker.js';

export interface TimeTrackerDeps {
  config: Extract<TrackingConfig, { mode: 'time' }>;
  /** gate.lead_ms: the gate acts this long before the part is due, to give the actuator time to move. */
  leadMs: number;
  /** Times the gate moments: for a late part, the moment is its reject edge. */
  gateScheduler: Scheduler;
  /** Times passes going by: a millisecond late does no harm there. */
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

  track(part: Part): void {
    part.record.tracking.dueMs = this.dueMs(part);
    const fireAtMs = this.fireAtMs(part);
    // The verdict deadline is also the reject edge for a late part, so it gets the precise scheduler.
    part.addTimer(this.deps.gateScheduler.at(fireAtMs, () => this.deps.host.toGate(part, fireAtMs)));
  }

  /** A reject goes to the gate at once (the gate controller times and merges it); a pass waits until it goes by. */
  decided(part: Part): void {
    part.cancelTimers();
    const fireAtMs = this.fireAtMs(part);
    if (part.decision === 'reject') this.deps.host.toGate(part, fireAtMs);
    else part.addTimer(this.deps.coarse.at(this.dueMs(part), () => this.deps.host.toGate(part, fireAtMs)));
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
