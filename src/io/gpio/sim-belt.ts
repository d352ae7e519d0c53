import type { SimGpioConfig } from '../../config/sections/gpio.js';
import type { Edge } from '../../domain/ports.js';
import type { LineConfig } from './types.js';

export interface SimBeltDeps {
  config: SimGpioConfig;
  /** Runs fn at or just after atMs (monotonic ms); never once the simulated world has stopped. */
  after: (atMs: number, fn: () => void) => void;
  /** The confirm sensor sees an edge at timeMs. */
  confirm: (edge: Edge, timeMs: number) => void;
}

interface GateLevel {
  timeMs: number;
  active: boolean;
}

/**
 * The stretch of simulated belt from the photo-eye to the reject gate, and the reject chute behind the gate.
 *
 * Each generated part reaches the gate `gate_transit_ms` after the photo-eye saw it. The gate diverts it when the
 * gate is in its reject position at the moment the middle of the part crosses it: with `energised_position: reject`
 * (air blast) that is while the output is active, with `pass` (diverter held in pass) while it is inactive, so a
 * de-energised diverter puts every part in the chute, like the real one. A diverted part drops past the confirm
 * sensor `confirm_delay_ms` after it reached the gate and blocks it for `part_length_ms`: one confirm pulse per
 * part, however many parts one (merged) gate pulse covers.
 */
export class SimBelt {
  /** Undefined until an output named 'gate' is opened: without a gate every part passes. */
  private rejectWhenActive: boolean | undefined;
  /** Gate switches not yet behind every part still on the belt, in time order; before the first, inactive. */
  private readonly gateLevels: GateLevel[] = [];
  /** Parts between the photo-eye and the gate: while none is, only the gate's latest level matters. */
  private onBelt = 0;
  private diverted = 0;

  constructor(private readonly deps: SimBeltDeps) {}

  /** Ground truth: generated parts the gate put into the reject chute. */
  get partsDiverted(): number {
    return this.diverted;
  }

  gateOpened(line: LineConfig): void {
    this.rejectWhenActive = (line.energised_position ?? 'reject') === 'reject';
  }

  /** The gate output switched at timeMs (for the gate thread, the time it switched, reported a little later). */
  gateSwitched(active: boolean, timeMs: number): void {
    if (this.onBelt === 0) this.gateLevels.length = 0;
    let i = this.gateLevels.length;
    while (i > 0 && (this.gateLevels[i - 1]?.timeMs ?? 0) > timeMs) i--;
    this.gateLevels.splice(i, 0, { timeMs, active });
  }

  /** A generated part reached the photo-eye at eyeMs. */
  partArrived(eyeMs: number): void {
    const { gate_transit_ms: transitMs, part_length_ms: lengthMs } = this.deps.config;
    const atGateMs = eyeMs + transitMs;
    const crossMs = atGateMs + lengthMs / 2;
    this.onBelt += 1;
    this.afterReports(crossMs, () => this.cross(atGateMs, crossMs));
  }

  /**
   * At atMs, one event-loop turn late: after a blocked loop, timers run before the gate thread's report of a switch
   * it made earlier is read. One turn later the report has reached the write log and the gate controller, so the
   * diverter sees the gate where it was, and the line knows the part fired before its confirm edge arrives.
   */
  private afterReports(atMs: number, fn: () => void): void {
    this.deps.after(atMs, () => setImmediate(fn));
  }

  private cross(atGateMs: number, crossMs: number): void {
    this.onBelt -= 1;
    if (this.rejectWhenActive === undefined || this.gateActiveAt(crossMs) !== this.rejectWhenActive) return;
    this.diverted += 1;
    const delayMs = this.deps.config.confirm_delay_ms;
    if (delayMs === null) return;
    const riseMs = atGateMs + delayMs;
    const fallMs = riseMs + this.deps.config.part_length_ms;
    this.afterReports(riseMs, () => {
      this.deps.confirm('rising', riseMs);
      this.deps.after(fallMs, () => this.deps.confirm('falling', fallMs));
    });
  }

  /** The gate's level at timeMs. Parts cross in arrival order, so switches before the last one up to timeMs are dropped. */
  private gateActiveAt(timeMs: number): boolean {
    let last = -1;
    while (last + 1 < this.gateLevels.length && (this.gateLevels[last + 1]?.timeMs ?? Infinity) <= timeMs) last++;
    if (last < 0) return false;
    this.gateLevels.splice(0, last);
    return this.gateLevels[0]?.active ?? false;
  }
}
