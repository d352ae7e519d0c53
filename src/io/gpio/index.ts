import type { Logger } from 'pino';
import type { GpioConfig } from '../../config/sections/gpio.js';
import { LinesideError } from '../../errors.js';
import { GpiodGpio } from './gpiod.js';
import { OnoffGpio } from './onoff.js';
import { SimGpio } from './sim.js';
import type { GpioDriver } from './types.js';

export type { DigitalOutput, Edge, EdgeEvent, EdgeInput } from '../../domain/ports.js';
export type { GpioDriver, LineConfig } from './types.js';
export { isSimGpio, SIM_GATE_OUTPUT, SIM_INPUTS } from './sim.js';
export type { OutputWrite, SimControl, SimGpioDriver, SimPart } from './sim.js';

export interface GpioDeps {
  logger: Logger;
}

export const GPIO_TYPES = ['sim', 'onoff', 'gpiod'] as const satisfies readonly GpioConfig['type'][];

/**
 * Build the GPIO driver named by `config.type`. Nothing is touched until `start`: onoff is loaded and
 * gpiod's tools are checked there, so a config can be validated on any machine.
 */
export function createGpio(config: GpioConfig, deps: GpioDeps): GpioDriver {
  const logger = deps.logger.child({ driver: config.type });
  switch (config.type) {
    case 'sim':
      return new SimGpio({ config, logger });
    case 'onoff':
      return new OnoffGpio({ config, logger });
    case 'gpiod':
      return new GpiodGpio({ config, logger });
    default: {
      const type = (config as { type?: unknown }).type;
      throw new LinesideError(
        'LS_CONFIG_INVALID',
        `gpio.type: unknown driver ${JSON.stringify(type)} (valid: ${GPIO_TYPES.join(', ')})`,
      );
    }
  }
}
