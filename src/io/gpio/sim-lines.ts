import type { Logger } from 'pino';
import { LinesideError } from '../../errors.js';
import { EdgeInputBase, driverNotStarted, electricalLevel, outputNotStarted } from './line-core.js';
import type { DigitalOutput, OffThreadSwitch } from '../../domain/ports.js';
import type { LineConfig } from './types.js';

export interface OutputWrite {
  output: string;
  /** Logical level written. */
  active: boolean;
  /** Electrical level after active_low. */
  level: boolean;
  /** performance.now() of the write. */
  timeMs: number;
  /** 'start', 'stop' and 'force_safe' are the safe-state writes the driver makes itself. */
  cause: 'start' | 'write' | 'stop' | 'force_safe';
}

/** What the simulated lines need of the simulated conveyor they belong to (SimGpio). */
export interface SimWorld {
  readonly isStarted: boolean;
  /** Start or stop the generators to match what is started. */
  refresh(): void;
  recordWrite(write: OutputWrite): void;
}

/** Its edges come from the simulated world (SimGpio.inject and the part and encoder generators). */
export class SimInput extends EdgeInputBase {
  readonly #world: SimWorld;

  constructor(deps: { name: string; line: LineConfig; logger: Logger; world: SimWorld }) {
    super(deps);
    this.#world = deps.world;
  }

  protected open(): Promise<void> {
    if (!this.#world.isStarted) return Promise.reject(driverNotStarted('sim', this.name));
    this.#world.refresh();
    return Promise.resolve();
  }

  protected close(): Promise<void> {
    this.#world.refresh();
    return Promise.resolve();
  }
}

export class SimOutput implements DigitalOutput {
  started = false;
  failing = false;
  /** The simulated wire: element 0 is the logical level. Shared, so the gate thread can switch it. */
  private readonly wire = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly deps: { name: string; line: LineConfig; world: SimWorld }) {}

  get name(): string {
    return this.deps.name;
  }

  get active(): boolean {
    return Atomics.load(this.wire, 0) === 1;
  }

  offThread(): OffThreadSwitch {
    return { kind: 'shared', wire: this.wire.buffer };
  }

  /** Recorded with the thread's own time stamp, so the write log and the belt's diverter see when it switched. */
  switchedOffThread(active: boolean, timeMs: number): void {
    this.record(active, 'write', timeMs);
  }

  start(_signal: AbortSignal): Promise<void> {
    if (!this.deps.world.isStarted) return Promise.reject(driverNotStarted('sim', this.deps.name));
    this.started = true;
    this.set(false, 'start');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.started) this.set(false, 'stop');
    this.started = false;
    return Promise.resolve();
  }

  forceSafe(): void {
    if (this.started) this.set(false, 'force_safe');
  }

  write(active: boolean): void {
    if (!this.started) throw outputNotStarted(this.deps.name);
    if (this.failing)
      throw new LinesideError('LS_GPIO_WRITE', `gpio output "${this.deps.name}": simulated write fault`);
    this.set(active, 'write');
  }

  private set(active: boolean, cause: OutputWrite['cause']): void {
    Atomics.store(this.wire, 0, active ? 1 : 0);
    this.record(active, cause, performance.now());
  }

  private record(active: boolean, cause: OutputWrite['cause'], timeMs: number): void {
    this.deps.world.recordWrite({
      output: this.deps.name,
      active,
      level: electricalLevel(active, this.deps.line),
      timeMs,
      cause,
    });
  }
}
