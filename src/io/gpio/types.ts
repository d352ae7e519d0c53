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
  /**
   * Drive the safe (inactive) level now and synchronously, whatever write is queued or in flight: the last thing
   * done before an exit that cannot wait for stop() (a second SIGTERM). Throws LinesideError LS_GPIO_WRITE if it
   * could not; a no-op before start.
   */
  forceSafe(): void;
  /** Last level written (logical). */
  readonly active: boolean;
  /**
   * Present where the driver lets another thread switch this output (the gate thread, gate-thread.ts), so that
   * a busy event loop cannot make a reject edge late. Called after start.
   */
  offThread?(): OffThreadSwitch;
  /** The gate thread switched this output at timeMs (monotonic ms): bring the driver's own state in line. */
  switchedOffThread?(active: boolean, timeMs: number): void;
}

/**
 * How a worker thread switches an output, as plain data that can be posted to it.
 * - 'file': write `activeText` or `inactiveText` (electrical level already applied) at offset 0 of `path`
 *   (a sysfs GPIO value file);
 * - 'shared': the simulator's wire, an Int32Array over `wire` whose element 0 is the logical level.
 */
export type OffThreadSwitch = { kind: 'file'; path: string; activeText: string; inactiveText: string } | { kind: 'shared'; wire: SharedArrayBuffer };

/** Outcome of a planned switch: when it happened (monotonic ms), or why the write failed (LS_GPIO_WRITE). */
export type SwitchResult = { timeMs: number } | { error: LinesideError };

export interface PlannedSwitch {
  /**
   * Withdraws the plan. Null when it was withdrawn before it switched; otherwise the switch already happened
   * and this is its result (its onSwitched callback will not run).
   */
  cancel(): SwitchResult | null;
}

/** Switches one output at a planned time from a thread of its own (gate-thread.ts). */
export interface TimedSwitch {
  /** False once the thread has failed: callers time their switches on the event loop instead. */
  readonly usable: boolean;
  /**
   * Plans a switch of the output to `active` at dueMs (monotonic ms); one plan at a time. onSwitched runs on the
   * event loop afterwards with the result, or with null when the thread failed before switching (plan again on the
   * event loop). It does not run after cancel().
   */
  plan(active: boolean, dueMs: number, onSwitched: (result: SwitchResult | null) => void): PlannedSwitch;
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
