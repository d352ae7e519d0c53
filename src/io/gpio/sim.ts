import type { Logger } from 'pino';
import type { SimGpioConfig } from '../../config/sections/gpio.js';
import type { LinesideError } from '../../errors.js';
import { ErrorListeners, OpenLines } from './line-core.js';
import { SimBelt } from './sim-belt.js';
import { SimInput, SimOutput, type OutputWrite, type SimWorld } from './sim-lines.js';
import type { DigitalOutput, Edge, EdgeInput } from '../../domain/ports.js';
import type { GpioDriver, LineConfig } from './types.js';

/** Input names the simulated conveyor drives by itself; any other name only sees injected edges. */
export const SIM_INPUTS = { trigger: 'trigger', encoder: 'encoder', confirm: 'confirm', binFull: 'bin_full' } as const;
/** The output with this name is the simulated reject gate: parts that cross it in its reject position drop into the chute. */
export const SIM_GATE_OUTPUT = 'gate';

export type { OutputWrite } from './sim-lines.js';

export interface SimPart {
  /** 1-based count of generated parts. */
  index: number;
  /** When the part reached the photo-eye (the trigger's rising edge). */
  timeMs: number;
}

/** Test and bench control of the simulated conveyor. */
export interface SimControl {
  /**
   * Make the named input see a LOGICAL edge (what the sensor means: rising = part present), at `timeMs`
   * (default now). The edge filter and debounce of the input apply. Returns true when a listener got it;
   * false when filtered, debounced, or the input is not open/started (its level still changes).
   */
  inject(input: string, edge: Edge, timeMs?: number): boolean;
  /** Change the belt speed seen by the encoder; 0 stops the belt (no pulses). */
  setEncoderHz(hz: number): void;
  readonly encoderHz: number;
  /** Encoder rising edges generated so far. */
  readonly encoderPulses: number;
  /** Allow part generation (runs while the driver and the 'trigger' input are started). */
  startParts(): void;
  /** Stop generating parts (a part already on the eye still gets its falling edge). */
  stopParts(): void;
  /** True while parts are actually being generated. */
  readonly generating: boolean;
  readonly partsGenerated: number;
  /** Ground truth: generated parts the gate put into the reject chute (sim-belt.ts). */
  readonly partsDiverted: number;
  /** Ground truth: called at each generated part's arrival. */
  onPart(listener: (part: SimPart) => void): () => void;
  /** Every output write in order, optionally of one output. */
  writes(output?: string): readonly OutputWrite[];
  clearWrites(): void;
  /** Make writes to an output throw LS_GPIO_WRITE (a broken driver or wire), or heal it. */
  failWrites(output: string, fail: boolean): void;
}

export interface SimGpioDriver extends GpioDriver, SimControl {
  readonly type: 'sim';
}

export interface SimGpioDeps {
  config: SimGpioConfig;
  logger: Logger;
}

export function isSimGpio(driver: GpioDriver): driver is SimGpioDriver {
  return driver instanceof SimGpio;
}

/** Seeded PRNG (mulberry32): the same seed gives the same part times in every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Timers round to whole ms and may not fire early; wake at or just after the target. */
function delayUntil(targetMs: number): number {
  return Math.max(0, Math.ceil(targetMs - performance.now()));
}

/**
 * A simulated conveyor behind the GPIO interface. The world is modelled in logical levels (part present =
 * active), so active_low changes nothing observable here; it is honoured in the recorded electrical level.
 *
 * Timing: every edge carries the exact time the simulated physics put it at (part arrivals follow the seeded
 * schedule and never drift), delivered as soon as a timer lets us. Encoder pulses faster than encoder_tick_ms
 * are delivered in batches every encoder_tick_ms, each with its own interpolated timestamp, so a 10 kHz
 * encoder costs 500 timer wakeups a second, not 20 000.
 */
export class SimGpio implements SimGpioDriver, SimWorld {
  readonly type = 'sim' as const;
  private started = false;
  private readonly lines = new OpenLines<SimInput, SimOutput>();
  private readonly writeLog: OutputWrite[] = [];
  private readonly partListeners = new Set<(part: SimPart) => void>();
  private readonly errors: ErrorListeners;
  private readonly oneShotTimers = new Set<NodeJS.Timeout>();
  private readonly belt: SimBelt;
  private random: () => number;
  private wantParts: boolean;
  private partTimer: NodeJS.Timeout | null = null;
  private parts = 0;
  private hz: number;
  private encoderTimer: NodeJS.Timeout | null = null;
  private nextEncoderEdgeMs = 0;
  private nextEncoderRising = true;
  private pulses = 0;

  constructor(private readonly deps: SimGpioDeps) {
    this.errors = new ErrorListeners({ logger: deps.logger });
    this.random = mulberry32(deps.config.seed);
    this.wantParts = deps.config.autostart;
    this.hz = deps.config.encoder_hz;
    this.belt = new SimBelt({
      config: deps.config,
      after: (atMs, fn) => this.after(atMs, fn),
      confirm: (edge, timeMs) => this.deliver(SIM_INPUTS.confirm, edge, timeMs),
    });
  }

  get isStarted(): boolean {
    return this.started;
  }

  input(name: string, line: LineConfig): EdgeInput {
    return this.lines.addInput(name, () => new SimInput({ name, line, logger: this.deps.logger, world: this }));
  }

  output(name: string, line: LineConfig): DigitalOutput {
    const output = this.lines.addOutput(name, () => new SimOutput({ name, line, world: this }));
    if (name === SIM_GATE_OUTPUT) this.belt.gateOpened(line);
    return output;
  }

  onError(listener: (err: LinesideError, line: string) => void): () => void {
    return this.errors.on(listener);
  }

  start(_signal: AbortSignal): Promise<void> {
    this.started = true;
    this.random = mulberry32(this.deps.config.seed);
    this.refresh();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    await this.lines.stopAll();
    this.started = false;
    this.refresh();
    for (const timer of this.oneShotTimers) clearTimeout(timer);
    this.oneShotTimers.clear();
  }

  // --- SimControl ---

  inject(input: string, edge: Edge, timeMs: number = performance.now()): boolean {
    return this.deliver(input, edge, timeMs);
  }

  get encoderHz(): number {
    return this.hz;
  }

  get encoderPulses(): number {
    return this.pulses;
  }

  setEncoderHz(hz: number): void {
    if (!Number.isFinite(hz) || hz < 0) throw new RangeError(`encoder rate must be >= 0 Hz (got ${hz})`);
    if (this.encoderTimer !== null && this.hz > 0) {
      // Pulses up to now happened at the old speed; the new speed continues from the last edge.
      this.emitEncoderEdgesUntil(performance.now());
      const lastEdgeMs = this.nextEncoderEdgeMs - 500 / this.hz;
      clearTimeout(this.encoderTimer);
      this.encoderTimer = null;
      this.hz = hz;
      if (hz > 0) {
        this.nextEncoderEdgeMs = lastEdgeMs + 500 / hz;
        this.scheduleEncoder();
      }
      return;
    }
    this.hz = hz;
    this.refresh();
  }

  startParts(): void {
    this.wantParts = true;
    this.refresh();
  }

  stopParts(): void {
    this.wantParts = false;
    this.refresh();
  }

  get generating(): boolean {
    return this.partTimer !== null;
  }

  get partsGenerated(): number {
    return this.parts;
  }

  get partsDiverted(): number {
    return this.belt.partsDiverted;
  }

  onPart(listener: (part: SimPart) => void): () => void {
    this.partListeners.add(listener);
    return () => {
      this.partListeners.delete(listener);
    };
  }

  writes(output?: string): readonly OutputWrite[] {
    return output === undefined ? [...this.writeLog] : this.writeLog.filter((w) => w.output === output);
  }

  clearWrites(): void {
    this.writeLog.length = 0;
  }

  failWrites(output: string, fail: boolean): void {
    const line = this.lines.outputs.get(output);
    if (!line) throw new RangeError(`no sim output named "${output}"`);
    line.failing = fail;
  }

  // --- world ---

  /** Start or stop the generators to match what is started. */
  refresh(): void {
    const trigger = this.lines.inputs.get(SIM_INPUTS.trigger);
    const partsShouldRun = this.started && this.wantParts && trigger?.started === true;
    if (partsShouldRun && this.partTimer === null) {
      this.scheduleNextPart(performance.now());
    } else if (!partsShouldRun && this.partTimer !== null) {
      clearTimeout(this.partTimer);
      this.partTimer = null;
    }

    const encoder = this.lines.inputs.get(SIM_INPUTS.encoder);
    const encoderShouldRun = this.started && this.hz > 0 && encoder?.started === true;
    if (encoderShouldRun && this.encoderTimer === null) {
      this.nextEncoderEdgeMs = performance.now() + 500 / this.hz;
      this.nextEncoderRising = true;
      this.scheduleEncoder();
    } else if (!encoderShouldRun && this.encoderTimer !== null) {
      clearTimeout(this.encoderTimer);
      this.encoderTimer = null;
    }
  }

  recordWrite(write: OutputWrite): void {
    this.writeLog.push(write);
    if (write.output === SIM_GATE_OUTPUT) this.belt.gateSwitched(write.active, write.timeMs);
  }

  private deliver(name: string, edge: Edge, timeMs: number): boolean {
    const input = this.lines.inputs.get(name);
    if (!input) return false;
    if (!input.started) {
      input.edges.level = edge === 'rising';
      return false;
    }
    return input.edges.push(edge, timeMs);
  }

  private after(atMs: number, fn: () => void): void {
    if (!this.started) return;
    const timer = setTimeout(() => {
      this.oneShotTimers.delete(timer);
      fn();
    }, delayUntil(atMs));
    this.oneShotTimers.add(timer);
  }

  private scheduleNextPart(fromMs: number): void {
    const { part_interval_ms: intervalMs, part_jitter_ms: jitterMs, part_length_ms: lengthMs } = this.deps.config;
    const offsetMs = jitterMs > 0 ? (this.random() * 2 - 1) * jitterMs : 0;
    // Parts cannot overlap on a photo-eye: the beam must clear before the next part blocks it.
    const gapMs = Math.max(lengthMs + 1, intervalMs + offsetMs);
    const atMs = fromMs + gapMs;
    this.partTimer = setTimeout(() => this.partArrives(atMs), delayUntil(atMs));
  }

  private partArrives(atMs: number): void {
    this.partTimer = null;
    this.parts += 1;
    const part: SimPart = { index: this.parts, timeMs: atMs };
    for (const listener of this.partListeners) listener(part);
    this.belt.partArrived(atMs);
    this.deliver(SIM_INPUTS.trigger, 'rising', atMs);
    const fallMs = atMs + this.deps.config.part_length_ms;
    this.after(fallMs, () => this.deliver(SIM_INPUTS.trigger, 'falling', fallMs));
    // Scheduled from the ideal arrival time, so late timers never make the line drift.
    if (this.started && this.wantParts && this.lines.inputs.get(SIM_INPUTS.trigger)?.started === true) {
      this.scheduleNextPart(atMs);
    }
  }

  private scheduleEncoder(): void {
    const tickMs = this.deps.config.encoder_tick_ms;
    const wakeMs = Math.max(this.nextEncoderEdgeMs, performance.now() + tickMs);
    this.encoderTimer = setTimeout(() => {
      this.encoderTimer = null;
      this.emitEncoderEdgesUntil(performance.now());
      if (this.started && this.hz > 0 && this.lines.inputs.get(SIM_INPUTS.encoder)?.started === true)
        this.scheduleEncoder();
    }, delayUntil(wakeMs));
  }

  private emitEncoderEdgesUntil(nowMs: number): void {
    if (this.hz <= 0) return;
    const halfPeriodMs = 500 / this.hz;
    while (this.nextEncoderEdgeMs <= nowMs) {
      const edge: Edge = this.nextEncoderRising ? 'rising' : 'falling';
      if (this.nextEncoderRising) this.pulses += 1;
      this.deliver(SIM_INPUTS.encoder, edge, this.nextEncoderEdgeMs);
      this.nextEncoderRising = !this.nextEncoderRising;
      this.nextEncoderEdgeMs += halfPeriodMs;
    }
  }
}

export function createSimGpio(deps: SimGpioDeps): SimGpioDriver {
  return new SimGpio(deps);
}
