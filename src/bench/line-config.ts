/** The bench's simulated line: config/demo.yaml with its part interval (and what that interval forces) changed. */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { gateSection, type GateConfig } from '../config/sections/line.js';

/** The project root: two levels above this module, in src/bench/ as in dist/bench/. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_CONFIG = path.join(PROJECT_ROOT, 'config', 'demo.yaml');
export const DATASET = path.resolve(PROJECT_ROOT, '..', 'shared', 'casting', 'train');

/** A TCP port nobody listens on right now (the embedded broker's). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port to listen on');
  return address.port;
}

export interface LineConfigOptions {
  partsPerSecond: number;
  /** Directory for the generated config and the outbox. */
  dir: string;
  port: number;
  /** Image folder (def_front/ and ok_front/); default the shared dataset. */
  images?: string;
  /** Overrides, section by section, on top of the demo's (e.g. pipeline.max_in_flight). */
  overrides?: Record<string, Record<string, unknown>>;
}

type Section = Record<string, unknown>;

/**
 * Writes `dir/line.yaml`: the demo's config, paths made absolute, the outbox in `dir`, the embedded broker on
 * `port`, and a part every 1000/partsPerSecond ms. A faster part rate forces five more keys, each only where the
 * demo's value would not fit the interval: the photo-eye's blocked time (part_length_ms, at most half the
 * interval), the trigger's min_spacing_ms (half the interval; the demo's 100 ms would drop every other part at
 * 20 parts/s), debounce_ms (at most 40% of the interval), and the gate's pulse_ms and min_gap_ms (at most 40% and
 * 20% of the interval): the demo's 60 ms pulse physically covers the next part from 13 parts/s on, and the line
 * rightly records an ok part the open gate took as a 'late' fail-safe reject. Returns the file's path.
 */
export async function writeLineConfig(options: LineConfigOptions): Promise<string> {
  const demoDir = path.dirname(DEMO_CONFIG);
  const demo = parse(await readFile(DEMO_CONFIG, 'utf8')) as Record<string, Section>;
  const intervalMs = 1000 / options.partsPerSecond;
  const section = (name: string): Section => ({ ...demo[name], ...options.overrides?.[name] });
  const gpio = section('gpio');
  const trigger = section('trigger');
  const gate = section('gate');
  const partLengthMs = Math.max(1, Math.min(Number(gpio.part_length_ms ?? 40), intervalMs / 2));
  const config = {
    ...demo,
    model: { ...section('model'), bundle: path.resolve(demoDir, String(demo.model?.bundle)) },
    camera: { ...section('camera'), path: options.images ?? path.resolve(demoDir, String(demo.camera?.path)) },
    gpio: { ...gpio, part_interval_ms: intervalMs, part_length_ms: partLengthMs },
    trigger: {
      ...trigger,
      min_spacing_ms: Math.min(Number(trigger.min_spacing_ms ?? 50), intervalMs / 2),
      debounce_ms: Math.min(Number(trigger.debounce_ms ?? 2), intervalMs * 0.4),
    },
    gate: {
      ...gate,
      pulse_ms: Math.max(1, Math.min(Number(gate.pulse_ms ?? 80), intervalMs * 0.4)),
      min_gap_ms: Math.min(Number(gate.min_gap_ms ?? 20), intervalMs * 0.2),
    },
    mqtt: { ...section('mqtt'), embedded_port: options.port, outbox_dir: path.join(options.dir, 'outbox') },
    ...Object.fromEntries(
      Object.entries(options.overrides ?? {})
        .filter(([name]) => !['model', 'camera', 'gpio', 'trigger', 'gate', 'mqtt'].includes(name))
        .map(([name, over]) => [name, { ...demo[name], ...over }]),
    ),
  };
  const file = path.join(options.dir, 'line.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/** The demo config's gate section, defaults filled in (the bench's gate measurement uses its thread settings). */
export async function demoGate(): Promise<GateConfig> {
  const demo = parse(await readFile(DEMO_CONFIG, 'utf8')) as Record<string, unknown>;
  return gateSection.parse(demo.gate);
}
