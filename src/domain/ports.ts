/**
 * The ports the pipeline drives: trigger and sensor inputs, the gate and other outputs, the camera, the model.
 * Drivers (src/camera, src/inference, src/io) implement them; src/pipeline imports only these.
 */
import type { LinesideError } from '../errors.js';
import type { Label, Verdict } from './part.js';
import type { Lifecycle } from './lifecycle.js';

export type { Lifecycle } from './lifecycle.js';

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
export type OffThreadSwitch =
  | { kind: 'file'; path: string; activeText: string; inactiveText: string }
  | { kind: 'shared'; wire: SharedArrayBuffer };

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

export interface CapturedImage {
  /** Encoded image bytes (JPEG, PNG, ...), kept in memory: drivers leave no temp files behind. */
  data: Buffer;
  /** Where it came from: file path, URL, camera model + path. For logs and the verdict payload. */
  source: string;
  /** Known ground truth (folder camera with def_front/ok_front sub-folders), so summaries can count escapes. */
  label?: Label;
}

/**
 * One camera. `capture` is called once per part; drivers serialise their own calls.
 * It rejects with LinesideError LS_CAMERA_TIMEOUT / LS_CAMERA_ERROR, and honours `signal`
 * (the pipeline aborts it at the capture deadline; a driver that cannot cancel must still settle or be ignored).
 */
export interface Camera extends Lifecycle {
  readonly type: string;
  capture(signal: AbortSignal): Promise<CapturedImage>;
}

/** What the model says about one image. Times are wall-clock milliseconds spent in each stage. */
export interface Inspection {
  /** Probability-like score in [0, 1] that the part is defective. */
  defectScore: number;
  /** defectScore >= threshold ? 'defective' : 'ok'. */
  verdict: Verdict;
  threshold: number;
  preprocessMs: number;
  inferenceMs: number;
}

/** Facts about the loaded model, reported in logs, MQTT payloads and `doctor`. */
export interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  threshold: number;
  /** The execution provider actually in use (detected, not merely requested), e.g. 'cpu', 'cuda'. */
  executionProvider: string;
  requestedProviders: readonly string[];
}

/**
 * Owns the model (in a worker thread, so ORT's blocking run() never stalls the event loop).
 * `start` verifies the bundle, creates the session and warms up; it throws LinesideError
 * (LS_MODEL_*, LS_EP_UNAVAILABLE) when the daemon must not arm.
 */
export interface Inspector extends Lifecycle {
  readonly info: ModelInfo;
  /** Decode, preprocess and classify one encoded image (JPEG/PNG/...). Rejects with LinesideError. */
  inspect(image: Buffer, signal?: AbortSignal): Promise<Inspection>;
  /**
   * Where the model looked: the inspection and a class-activation heat map (values 0..1, row-major), where the
   * bundle exports what the map needs. Absent when it does not; the operator view then shows verdicts only.
   */
  explain?(
    image: Buffer,
    signal?: AbortSignal,
  ): Promise<{
    inspection: Inspection;
    heatmap: { width: number; height: number; values: Float32Array /* 0..1 row-major */ };
  }>;
}
