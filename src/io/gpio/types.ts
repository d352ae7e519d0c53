import type { LinesideError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';

export type Edge = 'rising' | 'falling';

export interface EdgeEvent {
  edge: Edge;
  /**
   * When the edge happened, in ms on the monotonic clock used everywhere in lineside
   * (performance.now() of this process). Drivers with kernel timestamps (gpiod) convert them
   * to this base; others stamp on arrival.
   */
  timeMs: number;
}

/** A digital input that reports edges (photo-eye, encoder, confirm sensor, bin-full switch). */
export interface EdgeInput extends Lifecycle {
  readonly name: string;
  /** Register a listener; returns an unsubscribe function. Debounce is applied by the driver. */
  onEdge(listener: (event: EdgeEvent) => void): () => void;
  /** Current logical level (after active_low), where the driver can read it. */
  read(): boolean;
}

/** A digital output (reject gate, stack light, heartbeat). */
export interface DigitalOutput extends Lifecycle {
  readonly name: string;
  /**
   * Set the logical level (true = active: gate rejecting, lamp on). Inversion (active_low) is done by the driver.
   * Never blocks the event loop; throws LinesideError LS_GPIO_WRITE synchronously if the write failed.
   */
  write(active: boolean): void;
  /** Last level written (logical). */
  readonly active: boolean;
}

/** A GPIO driver: opens named lines. `start` of each line forces an output to its safe (inactive) state. */
export interface GpioDriver extends Lifecycle {
  readonly type: string;
  input(name: string, line: LineConfig): EdgeInput;
  output(name: string, line: LineConfig): DigitalOutput;
  /**
   * Failures that happen after start, away from any call: a monitor process died, an asynchronous write failed.
   * Codes: LS_GPIO_UNAVAILABLE (an input or output is no longer held), LS_GPIO_WRITE (an output did not switch).
   * Optional so that test doubles stay small; every lineside driver implements it.
   */
  onError?(listener: (err: LinesideError) => void): () => void;
}

export interface LineConfig {
  /** Line offset on the chip (gpiod) or the kernel GPIO number (onoff/sysfs); ignored by sim. */
  line: number;
  active_low: boolean;
  /** Inputs only: which edges count as events. */
  edge?: Edge | 'both';
  /** Inputs only: events closer than this to the previous accepted one are dropped. */
  debounce_ms?: number;
}
