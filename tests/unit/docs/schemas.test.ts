import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { YAML_SCHEMA_LINE_PREFIX } from '../../../src/config/docs.js';
import { CONFIG_SCHEMA_FILE, renderSchemas, SCHEMA_DIR } from '../../../src/docs/schemas.js';

const root = path.resolve(import.meta.dirname, '../../..');
const dir = path.join(root, SCHEMA_DIR);

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: unknown;
}

const onDisk = (file: string): JsonSchema => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as JsonSchema;

/** Every object in the schema, with its path. */
function objects(node: JsonSchema, at = '$'): [string, JsonSchema][] {
  const own: [string, JsonSchema][] = node.type === 'object' && node.properties ? [[at, node]] : [];
  return own.concat(Object.entries(node.properties ?? {}).flatMap(([key, child]) => objects(child, `${at}.${key}`)));
}

describe(`${SCHEMA_DIR}/*.schema.json`, () => {
  it('are exactly what the zod schemas make (run `npm run docs` after changing a payload or a config key)', () => {
    const schemas = renderSchemas();
    expect(readdirSync(dir).sort()).toEqual([...schemas.keys()].sort());
    for (const [file, text] of schemas) expect(readFileSync(path.join(dir, file), 'utf8'), file).toBe(text);
  });

  it('payloads: every key of every object is required (unknown facts are null, never missing), none other allowed', () => {
    for (const file of ['verdict', 'alarm', 'status', 'state'].map((name) => `${name}.schema.json`)) {
      for (const [at, node] of objects(onDisk(file))) {
        if (at === '$.details') continue; // free-form extra facts of an alarm
        expect(node.required?.slice().sort(), `${file} ${at}`).toEqual(Object.keys(node.properties ?? {}).sort());
        expect(node.additionalProperties, `${file} ${at}`).toBe(false);
      }
    }
  });

  it('the config schema knows every key of the demo config, and refuses unknown ones, as the loader does', () => {
    const config = onDisk(CONFIG_SCHEMA_FILE);
    const demo = parse(readFileSync(path.join(root, 'config/demo.yaml'), 'utf8')) as Record<string, unknown>;
    const known = (node: JsonSchema | undefined, value: unknown, at: string): void => {
      if (node?.type !== 'object' || value === null || typeof value !== 'object' || Array.isArray(value)) return;
      for (const [key, child] of Object.entries(value)) {
        expect(node.properties?.[key], `${at}.${key} in ${CONFIG_SCHEMA_FILE}`).toBeDefined();
        known(node.properties?.[key], child, `${at}.${key}`);
      }
    };
    known(config, demo, '$');
    expect(config.additionalProperties).toBe(false);
    expect(Object.keys(config.properties?.mqtt?.properties?.tls?.properties ?? {})).toContain('servername');
  });

  it('config/demo.yaml starts with the yaml-language-server line, naming the schema file that exists', () => {
    const first = readFileSync(path.join(root, 'config/demo.yaml'), 'utf8').split('\n')[0] ?? '';
    expect(first.startsWith(YAML_SCHEMA_LINE_PREFIX)).toBe(true);
    const target = path.resolve(root, 'config', first.slice(YAML_SCHEMA_LINE_PREFIX.length));
    expect(target).toBe(path.join(dir, CONFIG_SCHEMA_FILE));
    expect(existsSync(target)).toBe(true);
  });
});
