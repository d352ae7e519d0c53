import type { Logger } from 'pino';
import { isMainThread } from 'node:worker_threads';
import type { BinaryValue, Direction, Edge as OnoffEdge, Gpio as OnoffLine, Options as OnoffOptions } from 'onoff';
import type { OnoffGpioConfig } from '../../config/sections/gpio.js';
import { LinesideError } from '../../errors.js';
import {
  EdgeInputBase,
  ErrorListeners,
  OpenLines,
  describeCause,
  driverNotStarted,
  electricalLevel,
  outputNotStarted,
} from './line-core.js';
import type { DigitalOutput, EdgeInput, OffThreadSwitch } from '../../domain/ports.js';
import type { GpioDriver, LineConfig } from './types.js';

type OnoffConstructor = (new (
  gpio: number,
  direction: Direction,
  edge?: OnoffEdge,
  options?: OnoffOptions,
) => OnoffLine) & {
  accessible: boolean;
};

export interface OnoffGpioDeps {
  config: OnoffGpioConfig;
  logger: Logger;
}

/**
 * onoff pulls in the epoll native addon, which crashes the process when it is loaded in more than one worker
 * thread; lineside only ever loads it from the main thread, and only when this driver starts.
 */
async function loadOnoff(): Promise<OnoffConstructor> {
  if (!isMainThread) {
    throw new LinesideError(
      'LS_GPIO_UNAVAILABLE',
      'the onoff GPIO driver can only be used from the main thread (its epoll addon crashes when loaded in more than one worker thread)',
    );
  }
  let mod: { Gpio?: OnoffConstructor; default?: { Gpio?: OnoffConstructor } };
  try {
    mod = await import('onoff');
  } catch (cause) {
    throw new LinesideError(
      'LS_GPIO_UNAVAILABLE',
      `the onoff package or its epoll addon could not be loaded (${describeCause(cause)}); reinstall with build tools, or use gpio.type: gpiod`,
      { cause },
    );
  }
  const ctor = mod.Gpio ?? mod.default?.Gpio;
  if (typeof ctor !== 'function')
    throw new LinesideError('LS_GPIO_UNAVAILABLE', 'the onoff package does not export Gpio');
  return ctor;
}

function openHint(err: unknown): string {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'EINVAL':
    case 'ENOENT':
      return 'no such kernel GPIO number: on Raspberry Pi kernels 6.6 and later sysfs numbers start at 512 (BCM GPIO17 = 529); see docs/gpio.md';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: add the service user to the gpio group (docs/gpio.md)';
    case 'EBUSY':
      return 'the line is claimed by a kernel driver or another process (check with gpioinfo)';
    default:
      return 'see docs/gpio.md';
  }
}

class OnoffInput extends EdgeInputBase {
  private gpio: OnoffLine | null = null;
  private readonly driver: OnoffGpio;

  constructor(deps: { name: string; line: LineConfig; logger: Logger; driver: OnoffGpio }) {
    super(deps);
    this.driver = deps.driver;
  }

  override read(): boolean {
    if (this.gpio) {
      try {
        return this.gpio.readSync() === 1;
      } catch (err) {
        this.deps.logger.warn({ err, input: this.deps.name }, 'gpio read failed; returning the last known level');
      }
    }
    return this.edges.level;
  }

  /** Throws synchronously; EdgeInputBase.start turns that into its rejection. */
  protected open(): Promise<void> {
    const { line } = this.deps;
    // Edges and values are logical in the kernel (sysfs active_low swaps rising/falling). The debounce is ours:
    // onoff's debounceTimeout is a trailing debounce that would delay every edge by debounce_ms.
    const gpio = this.driver.open(this.deps.name, 'input', line.line, 'in', line.edge ?? 'both', {
      activeLow: line.active_low,
    });
    this.gpio = gpio;
    this.edges.level = gpio.readSync() === 1;
    gpio.watch((err, value) => {
      if (err) {
        this.driver.reportError(
          new LinesideError(
            'LS_GPIO_UNAVAILABLE',
            `gpio input "${this.deps.name}": interrupt error (${describeCause(err)})`,
            { cause: err },
          ),
          this.deps.name,
        );
        return;
      }
      // Stamped on arrival: sysfs has no kernel timestamps, so interrupt latency is part of the error budget.
      this.edges.push(value === 1 ? 'rising' : 'falling', performance.now());
    });
    return Promise.resolve();
  }

  protected close(): Promise<void> {
    const gpio = this.gpio;
    this.gpio = null;
    if (gpio) this.driver.release(this.deps.name, gpio);
    return Promise.resolve();
  }
}

class OnoffOutput implements DigitalOutput {
  private gpio: OnoffLine | null = null;
  private desired = false;
  /** Logical level the line is known to hold; null after a failed write (unknown). */
  private applied: boolean | null = null;
  private inFlight: Promise<void> | null = null;
  /**
   * Set once the gate thread switches this line too: every write is then a synchronous sysfs write (microseconds
   * on SoC GPIO), so a write queued on the libuv pool can never land after the thread's edge and undo it.
   */
  private synchronous = false;

  constructor(private readonly deps: { name: string; line: LineConfig; logger: Logger; driver: OnoffGpio }) {}

  offThread(): OffThreadSwitch {
    this.synchronous = true;
    const level = (active: boolean): string => (electricalLevel(active, this.deps.line) ? '1' : '0');
    return {
      kind: 'file',
      path: `/sys/class/gpio/gpio${this.deps.line.line}/value`,
      activeText: level(true),
      inactiveText: level(false),
    };
  }

  switchedOffThread(active: boolean): void {
    this.desired = active;
    this.applied = active;
  }

  get name(): string {
    return this.deps.name;
  }

  get active(): boolean {
    return this.desired;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that open errors become rejections
  async start(_signal: AbortSignal): Promise<void> {
    if (this.gpio) return;
    // 'high'/'low' set direction and level in one kernel call, raw (ignoring active_low), so the line never
    // passes through the active state. We invert in JS and keep the kernel's active_low off for outputs.
    const safeDirection = electricalLevel(false, this.deps.line) ? 'high' : 'low';
    this.gpio = this.deps.driver.open(this.deps.name, 'output', this.deps.line.line, safeDirection, undefined, {
      activeLow: false,
    });
    this.desired = false;
    this.applied = false;
  }

  write(active: boolean): void {
    const gpio = this.gpio;
    if (!gpio) throw outputNotStarted(this.deps.name);
    this.desired = active;
    if (!this.synchronous) {
      this.pump();
      return;
    }
    const value: BinaryValue = electricalLevel(active, this.deps.line) ? 1 : 0;
    try {
      gpio.writeSync(value);
      this.applied = active;
    } catch (err) {
      this.applied = null;
      throw new LinesideError(
        'LS_GPIO_WRITE',
        `gpio output "${this.deps.name}": write ${value} failed (${describeCause(err)})`,
        { cause: err },
      );
    }
  }

  /**
   * writeSync, not the pool: a pool thread may be what is stuck, and the exit that follows will not wait. A pool
   * write already inside the kernel can still land after it; ExecStopPost's safe-outputs rewrites the safe level.
   */
  forceSafe(): void {
    const gpio = this.gpio;
    if (!gpio) return;
    this.desired = false;
    const value: BinaryValue = electricalLevel(false, this.deps.line) ? 1 : 0;
    try {
      gpio.writeSync(value);
      this.applied = false;
    } catch (err) {
      this.applied = null;
      throw new LinesideError(
        'LS_GPIO_WRITE',
        `gpio output "${this.deps.name}": could not force the safe state (${describeCause(err)})`,
        { cause: err },
      );
    }
  }

  async stop(): Promise<void> {
    const gpio = this.gpio;
    if (!gpio) return;
    this.desired = false;
    await this.inFlight;
    try {
      await gpio.write(electricalLevel(false, this.deps.line) ? 1 : 0);
    } catch (err) {
      this.deps.driver.reportError(
        new LinesideError(
          'LS_GPIO_WRITE',
          `gpio output "${this.deps.name}": could not force the safe state at stop (${describeCause(err)})`,
          { cause: err },
        ),
        this.deps.name,
      );
    }
    this.gpio = null;
    this.deps.driver.release(this.deps.name, gpio);
  }

  /**
   * fs.write runs on the libuv pool, so the event loop never waits for the kernel (slow on I2C expanders).
   * One write in flight at a time keeps the order; the latest requested level wins.
   */
  private pump(): void {
    const gpio = this.gpio;
    if (!gpio || this.inFlight || this.applied === this.desired) return;
    const target = this.desired;
    const value: BinaryValue = electricalLevel(target, this.deps.line) ? 1 : 0;
    this.inFlight = gpio
      .write(value)
      .then(
        () => {
          this.applied = target;
        },
        (err: unknown) => {
          this.applied = null;
          this.deps.driver.reportError(
            new LinesideError(
              'LS_GPIO_WRITE',
              `gpio output "${this.deps.name}": write ${value} failed (${describeCause(err)})`,
              { cause: err },
            ),
            this.deps.name,
          );
        },
      )
      .finally(() => {
        this.inFlight = null;
        // A failed write is retried only by the next write() call, not in a tight loop.
        if (this.applied !== null) this.pump();
      });
  }
}

/** Legacy sysfs GPIO (/sys/class/gpio) through onoff. Kernel GPIO numbers, timestamps on arrival. */
export class OnoffGpio implements GpioDriver {
  readonly type = 'onoff' as const;
  private Gpio: OnoffConstructor | null = null;
  private readonly lines = new OpenLines<OnoffInput, OnoffOutput>();
  private readonly errors: ErrorListeners;

  constructor(private readonly deps: OnoffGpioDeps) {
    this.errors = new ErrorListeners({ logger: deps.logger });
  }

  async start(_signal: AbortSignal): Promise<void> {
    const Gpio = await loadOnoff();
    if (!Gpio.accessible) {
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        '/sys/class/gpio/export is missing or not writable: this kernel has no sysfs GPIO (Raspberry Pi 5 numbering, Jetson JetPack 6) or the user is not in the gpio group; use gpio.type: gpiod (docs/gpio.md)',
      );
    }
    this.Gpio = Gpio;
  }

  async stop(): Promise<void> {
    await this.lines.stopAll();
    this.Gpio = null;
  }

  input(name: string, line: LineConfig): EdgeInput {
    return this.lines.addInput(name, () => new OnoffInput({ name, line, logger: this.deps.logger, driver: this }));
  }

  output(name: string, line: LineConfig): DigitalOutput {
    return this.lines.addOutput(name, () => new OnoffOutput({ name, line, logger: this.deps.logger, driver: this }));
  }

  onError(listener: (err: LinesideError, line: string) => void): () => void {
    return this.errors.on(listener);
  }

  open(
    name: string,
    kind: 'input' | 'output',
    gpio: number,
    direction: Direction,
    edge: OnoffEdge | undefined,
    options: OnoffOptions,
  ): OnoffLine {
    const Gpio = this.Gpio;
    if (!Gpio) throw driverNotStarted('onoff', name);
    try {
      return new Gpio(gpio, direction, edge ?? 'none', options);
    } catch (cause) {
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `gpio ${kind} "${name}" (kernel GPIO ${gpio}): ${describeCause(cause)}; ${openHint(cause)}`,
        { cause },
      );
    }
  }

  release(name: string, gpio: OnoffLine): void {
    try {
      gpio.unwatchAll();
      gpio.unexport();
    } catch (err) {
      this.deps.logger.warn({ err, line: name }, 'gpio unexport failed');
    }
  }

  reportError(err: LinesideError, line: string): void {
    this.errors.emit(err, line);
  }
}

export function createOnoffGpio(deps: OnoffGpioDeps): GpioDriver {
  return new OnoffGpio(deps);
}
