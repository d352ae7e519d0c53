import type { Clock } from './clock.js';

/**
 * A fault that keeps the line unhealthy until it is cleared: the operator acknowledged its alarm and the
 * component works again. gate_write: a write to the reject gate failed. gpio: a GPIO driver lost a line after
 * start (a monitor or supervisor process died, an asynchronous write failed).
 */
export type LineFault = 'gate_write' | 'gpio';

export interface LineHealthDeps {
  clock: Clock;
  /** Parts in flight with no part decided or settled for longer than this: something is stuck. */
  stallMs: number;
  /** Health of the injected components (inference worker alive, camera open). Default: always healthy. */
  components?: () => boolean;
}

/** What the line's health depends on beyond faults and progress. */
export interface LineState {
  running: boolean;
  inFlight: number;
  /** The tracker knows where the parts are (the encoder has not stalled). */
  trackingHealthy: boolean;
}

/**
 * The line's health for the systemd watchdog and the heartbeat output: running (draining included),
 * components healthy, no open fault, tracking sound, and parts in flight being decided (every part has a
 * deadline, so a stall means something is stuck).
 */
export class LineHealth {
  private readonly faults = new Set<LineFault>();
  private lastProgressMs = 0;

  constructor(private readonly deps: LineHealthDeps) {}

  /** A part was accepted, decided or settled (or the line started). */
  progressed(nowMs = this.deps.clock.now()): void {
    this.lastProgressMs = nowMs;
  }

  fault(kind: LineFault): void {
    this.faults.add(kind);
  }

  has(kind: LineFault): boolean {
    return this.faults.has(kind);
  }

  clear(kind: LineFault): void {
    this.faults.delete(kind);
  }

  healthy(state: LineState): boolean {
    if (!state.running || this.faults.size > 0 || !state.trackingHealthy) return false;
    if (!(this.deps.components?.() ?? true)) return false;
    if (state.inFlight === 0) return true;
    return this.deps.clock.now() - this.lastProgressMs <= this.deps.stallMs;
  }
}
