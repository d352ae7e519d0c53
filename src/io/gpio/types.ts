import type { LinesideError } from '../../errors.js';
import type { DigitalOutput, EdgeInput, Edge, Lifecycle } from '../../domain/ports.js';

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
  onError?(listener: (err: LinesideError, line: string) => void): () => void;
}

export interface LineConfig {
  /** Line offset on the chip (gpiod) or the kernel GPIO number (onoff/sysfs); ignored by sim. */
  line: number;
  active_low: boolean;
  /** Inputs only: which edges count as events. */
  edge?: Edge | 'both';
  /** Inputs only: events closer than this to the previous accepted one are dropped. */
  debounce_ms?: number;
  /**
   * The reject gate only (gate.energised_position): what the actuator does while the output is active. Real drivers
   * switch the wire and ignore it; the sim needs it to know where its diverter sends a part. Default 'reject'.
   */
  energised_position?: 'reject' | 'pass';
}
