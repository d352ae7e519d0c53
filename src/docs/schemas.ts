import { z } from 'zod';
import { configSchema } from '../config/schema.js';
import { ackCommandSchema, alarmPayloadSchema, statusPayloadSchema, verdictPayloadSchema } from '../io/mqtt/payload.js';
import { statePayloadSchema } from '../io/mqtt/state-payload.js';

/**
 * docs/schema/*.schema.json: JSON Schema (draft-07, what editors and most validators speak) for every MQTT payload
 * and for the config file, made by z.toJSONSchema from the very zod schemas the daemon builds and parses with, so
 * they cannot drift: `npm run docs` writes them, and a test fails when a file on disk differs.
 */

interface SchemaFile {
  file: string;
  title: string;
  description: string;
  schema: z.ZodType;
  /** input: what may be written (defaults make keys optional), for the config file; output: what is sent. */
  io: 'input' | 'output';
}

export const SCHEMA_DIR = 'docs/schema';

/** The config schema's file name, for the `# yaml-language-server: $schema=` line. */
export const CONFIG_SCHEMA_FILE = 'config.schema.json';

const FILES: readonly SchemaFile[] = [
  {
    file: CONFIG_SCHEMA_FILE,
    title: 'lineside configuration',
    description: 'The YAML config file (docs/config.md). Keys with a default may be left out.',
    schema: configSchema,
    io: 'input',
  },
  {
    file: 'verdict.schema.json',
    title: 'lineside <prefix>/verdict',
    description: 'One message per inspected part (docs/mqtt.md).',
    schema: verdictPayloadSchema,
    io: 'output',
  },
  {
    file: 'alarm.schema.json',
    title: 'lineside <prefix>/alarm and <prefix>/alarm/state/<alarm>',
    description: 'One alarm transition; also retained per open alarm (docs/mqtt.md).',
    schema: alarmPayloadSchema,
    io: 'output',
  },
  {
    file: 'status.schema.json',
    title: 'lineside <prefix>/status',
    description: 'Retained connection status, and the last will (docs/mqtt.md).',
    schema: statusPayloadSchema,
    io: 'output',
  },
  {
    file: 'state.schema.json',
    title: 'lineside <prefix>/state',
    description: 'Retained snapshot of the line: counters, yield, health, model (docs/mqtt.md).',
    schema: statePayloadSchema,
    io: 'output',
  },
  {
    file: 'cmd-ack.schema.json',
    title: 'lineside <prefix>/cmd/ack',
    description:
      'Acknowledge one alarm (id), the open alarm of one kind (alarm), or all (neither, or an empty payload).',
    schema: ackCommandSchema,
    io: 'input',
  },
];

/** File name -> content (2-space JSON and a final newline, as prettier leaves it) of every schema file. */
export function renderSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const { file, title, description, schema, io } of FILES) {
    const json = z.toJSONSchema(schema, { target: 'draft-7', io });
    // The file's own title and description come first and win over the schema's root description.
    const { $schema, description: _root, ...rest } = json;
    out.set(file, `${JSON.stringify({ $schema, title, description, ...rest }, null, 2)}\n`);
  }
  return out;
}
