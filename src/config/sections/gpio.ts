import { z } from 'zod';

export const simGpio = z
  .strictObject({
    type: z.literal('sim'),
    part_interval_ms: z
      .number()
      .min(1)
      .max(3_600_000)
      .default(500)
      .describe('Milliseconds between simulated parts passing the photo-eye; at least part_length_ms.'),
    part_jitter_ms: z
      .number()
      .min(0)
      .default(0)
      .describe(
        'Milliseconds of jitter: each interval is part_interval_ms plus a uniform random offset in [-jitter, +jitter], never shorter than part_length_ms + 1.',
      ),
    seed: z.number().int().default(1).describe('Seed of the jitter random generator (same seed, same part times).'),
    part_length_ms: z
      .number()
      .min(1)
      .default(40)
      .describe('Milliseconds the photo-eye stays blocked by each part (rising then falling edge).'),
    encoder_hz: z
      .number()
      .min(0)
      .default(0)
      .describe('Simulated encoder pulses per second (belt speed); 0 = no encoder.'),
    encoder_tick_ms: z
      .number()
      .min(1)
      .max(5)
      .default(2)
      .describe(
        'Milliseconds between batches of encoder pulses when pulses are closer than this; each pulse keeps its exact interpolated timestamp.',
      ),
    gate_transit_ms: z
      .number()
      .min(0)
      .max(3_600_000)
      .default(500)
      .describe(
        'Milliseconds a simulated part takes from the photo-eye to the gate. Set it to the transit the tracking section describes ' +
          '(time mode: distance_mm / belt_speed_mm_s); a different value simulates a mis-set tracking distance. It does not follow encoder_hz.',
      ),
    confirm_delay_ms: z
      .number()
      .min(0)
      .nullable()
      .default(null)
      .describe(
        'Milliseconds after a part reaches the gate while the gate is in its reject position (see gate.energised_position) that the ' +
          'simulated confirm sensor sees it in the reject chute (for part_length_ms); null = the sensor never fires.',
      ),
    autostart: z
      .boolean()
      .default(true)
      .describe('Start generating parts when the daemon arms; false = only edges injected by tests.'),
  })
  .superRefine((sim, ctx) => {
    // A part still blocking the photo-eye when the next one arrives is one long part, not two.
    if (sim.part_interval_ms < sim.part_length_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['part_interval_ms'],
        message: 'must be >= gpio.part_length_ms',
        params: { got: `${sim.part_interval_ms} < ${sim.part_length_ms}` },
      });
    }
  })
  .describe('Simulated conveyor: photo-eye, encoder, confirm sensor; outputs are recorded.');

export const onoffGpio = z
  .strictObject({ type: z.literal('onoff') })
  .describe(
    'Legacy sysfs GPIO through onoff (kernel GPIO numbers). Not on Jetson JetPack 6 or Raspberry Pi 5 numbering.',
  );

export const gpiodGpio = z
  .strictObject({
    type: z.literal('gpiod'),
    chip: z.string().default('gpiochip0').describe('GPIO character device (name under /dev or full path).'),
    gpiomon: z.string().default('gpiomon').describe('Path of libgpiod 1.6 gpiomon.'),
    gpioset: z.string().default('gpioset').describe('Path of libgpiod 1.6 gpioset.'),
    start_check_ms: z
      .number()
      .int()
      .min(10)
      .max(10_000)
      .default(150)
      .describe(
        'Milliseconds a newly started gpiomon/gpioset must stay alive to count as holding its line (1.6 tools print no ready signal).',
      ),
    restart_delay_ms: z
      .number()
      .int()
      .min(10)
      .max(60_000)
      .default(1000)
      .describe('Milliseconds before a gpiomon/gpioset that died unexpectedly is started again.'),
  })
  .describe('Character-device GPIO through libgpiod tools, with kernel event timestamps.');

export const gpioSection = z
  .discriminatedUnion('type', [simGpio, onoffGpio, gpiodGpio])
  .describe('The GPIO driver, chosen by `type`.');

export type SimGpioConfig = z.infer<typeof simGpio>;
export type OnoffGpioConfig = z.infer<typeof onoffGpio>;
export type GpiodGpioConfig = z.infer<typeof gpiodGpio>;
export type GpioConfig = z.infer<typeof gpioSection>;
