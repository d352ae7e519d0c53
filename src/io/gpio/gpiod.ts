import type { Logger } from 'pino';
import type { GpiodGpioConfig } from '../../config/sections/gpio.js';
import type { LinesideError } from '../../errors.js';
import { ErrorListeners, OpenLines, driverNotStarted } from './line-core.js';
import { GpiodInput } from './gpiod-input.js';
import { GpiodOutput } from './gpiod-output.js';
import { checkToolVersion, createKernelClock, type GpiodLineHost, type KernelClock } from './gpiod-tools.js';
import type { DigitalOutput, EdgeInput } from '../../domain/ports.js';
import type { GpioDriver, LineConfig } from './types.js';

export interface GpiodGpioDeps {
  config: GpiodGpioConfig;
  logger: Logger;
}

/**
 * Character-device GPIO through the libgpiod 1.6 command-line tools, with kernel event timestamps: inputs run
 * gpiomon (gpiod-input.ts), outputs a supervised gpioset (gpiod-output.ts).
 */
export class GpiodGpio implements GpioDriver, GpiodLineHost {
  readonly type = 'gpiod' as const;
  private kernelClock: KernelClock | null = null;
  private readonly lines = new OpenLines<GpiodInput, GpiodOutput>();
  private readonly errors: ErrorListeners;

  constructor(private readonly deps: GpiodGpioDeps) {
    this.errors = new ErrorListeners({ logger: deps.logger });
  }

  get config(): GpiodGpioConfig {
    return this.deps.config;
  }

  get clock(): KernelClock {
    if (!this.kernelClock) throw driverNotStarted('gpiod', '(any)');
    return this.kernelClock;
  }

  async start(_signal: AbortSignal): Promise<void> {
    for (const tool of [this.deps.config.gpiomon, this.deps.config.gpioset]) await checkToolVersion(tool);
    this.kernelClock = createKernelClock();
  }

  async stop(): Promise<void> {
    await this.lines.stopAll();
    this.kernelClock = null;
  }

  input(name: string, line: LineConfig): EdgeInput {
    return this.lines.addInput(name, () => new GpiodInput({ name, line, logger: this.deps.logger, driver: this }));
  }

  output(name: string, line: LineConfig): DigitalOutput {
    return this.lines.addOutput(name, () => new GpiodOutput({ name, line, logger: this.deps.logger, driver: this }));
  }

  onError(listener: (err: LinesideError, line: string) => void): () => void {
    return this.errors.on(listener);
  }

  requireStarted(name: string): void {
    if (!this.kernelClock) throw driverNotStarted('gpiod', name);
  }

  reportError(err: LinesideError, line: string): void {
    this.errors.emit(err, line);
  }
}

export function createGpiodGpio(deps: GpiodGpioDeps): GpioDriver {
  return new GpiodGpio(deps);
}
