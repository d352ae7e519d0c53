import { z } from 'zod';
import { cameraSection } from './sections/camera.js';
import { gpioSection } from './sections/gpio.js';
import { inferenceSection, modelSection } from './sections/inference.js';
import {
  alarmsSection,
  confirmSection,
  gateSection,
  heartbeatSection,
  pipelineSection,
  trackingSection,
  triggerSection,
} from './sections/line.js';
import { httpSection } from './sections/http.js';
import { mqttSection } from './sections/mqtt.js';
import { recordSection } from './sections/record.js';

/** The one schema: every key, default, unit and description. docs/config.md is generated from it. */
export const configSchema = z
  .strictObject({
    line_id: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
      .default('line1')
      .describe('Name of this inspection station; used in MQTT topics and logs.'),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
          .default('info')
          .describe('Lowest level logged.'),
      })
      .default({ level: 'info' })
      .describe('Logging (pino JSON on stdout).'),
    model: modelSection.default({ bundle: 'models/casting-cnn' }),
    inference: inferenceSection.default({
      execution_providers: ['cpu'],
      require_gpu: false,
      intra_op_threads: 1,
      warmup_runs: 3,
      timeout_ms: 1000,
      max_input_pixels: 40_000_000,
      cuda: { device_id: 0 },
      tensorrt: { cache_dir: 'var/trt-cache', fp16: false, workspace_mb: 1024 },
    }),
    camera: cameraSection,
    gpio: gpioSection,
    trigger: triggerSection,
    gate: gateSection,
    tracking: trackingSection,
    confirm: confirmSection.optional(),
    alarms: alarmsSection,
    heartbeat: heartbeatSection.optional(),
    pipeline: pipelineSection,
    mqtt: mqttSection.default(() => mqttSection.parse({})),
    record: recordSection.default(() => recordSection.parse({})),
    http: httpSection.default(() => httpSection.parse({})),
  })
  .describe('lineside configuration (one YAML file).');

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
