import type { DigitalOutput } from '../domain/ports.js';
import type { Clock, TimerHandle } from './clock.js';

export interface HeartbeatDeps {
  output: DigitalOutput;
  clock: Clock;
  periodMs: number;
  /** Checked at every period: the output toggles only while this is true. */
  healthy: () => boolean;
  onWriteError: (err: unknown) => void;
}

/**
 * Toggles an output every periodMs while the pipeline is healthy, for a PLC or a retriggerable watchdog
 * relay: a stuck level (either one) means "not healthy", so a hung process, a dead worker and a cut
 * wire all look the same to the relay.
 */
export class Heartbeat {
  private timer: TimerHandle | undefined;
  private toggles = 0;

  constructor(private readonly deps: HeartbeatDeps) {}

  get toggleCount(): number {
    return this.toggles;
  }

  start(): void {
    this.write(false);
    this.schedule();
  }

  stop(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.write(false);
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => this.tick(), this.deps.periodMs);
  }

  private tick(): void {
    if (this.deps.healthy()) {
      this.write(!this.deps.output.active);
      this.toggles++;
    }
    this.schedule();
  }

  private write(level: boolean): void {
    try {
      this.deps.output.write(level);
    } catch (err) {
      this.deps.onWriteError(err);
    }
  }
}
