import { z } from 'zod';

/** A GPIO line: offset on the chip (gpiod) or kernel GPIO number (onoff). */
export const lineNumber = z.number().int().min(0).max(4095);

export const outputLine = z
  .strictObject({
    line: lineNumber.describe('Line offset on the chip (gpiod) or kernel GPIO number (onoff/sysfs).'),
    active_low: z.boolean().default(false).describe('Electrically low means active (inverted logic).'),
  })
  .describe('A digital output line.');

export const inputLine = z
  .strictObject({
    line: lineNumber.describe('Line offset on the chip (gpiod) or kernel GPIO number (onoff/sysfs).'),
    active_low: z.boolean().default(false).describe('Electrically low means active (inverted logic).'),
    edge: z.enum(['rising', 'falling', 'both']).default('rising').describe('Which logical edges are events.'),
    debounce_ms: z
      .number()
      .min(0)
      .max(1000)
      .default(0)
      .describe('Milliseconds: an edge closer than this to the previous accepted edge is dropped.'),
  })
  .describe('A digital input line.');
