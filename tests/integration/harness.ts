import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DATASET = path.resolve(ROOT, '../shared/casting/train');
export const BUNDLE = process.env.LINESIDE_TEST_BUNDLE ?? path.join(ROOT, 'models/casting-cnn');

/**
 * A small labelled image folder made at test time from the shared dataset (never committed):
 * `perClass` images from each of def_front/ and ok_front/, the first ones in name order.
 */
export async function labelledFolder(dir: string, perClass: number): Promise<string> {
  const root = path.join(dir, 'images');
  for (const cls of ['def_front', 'ok_front']) {
    await mkdir(path.join(root, cls), { recursive: true });
    const names = (await readdir(path.join(DATASET, cls))).sort().slice(0, perClass);
    for (const name of names) await copyFile(path.join(DATASET, cls, name), path.join(root, cls, name));
  }
  return root;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const p = await mkdtemp(path.join(tmpdir(), `lineside-${prefix}-`));
  return { path: p, remove: () => rm(p, { recursive: true, force: true }) };
}

/**
 * Roomy where a loaded machine would otherwise decide a test: 1.5 s camera-to-gate (1.5 m at 1 m/s), 12 parts in
 * flight and a 2 s inference timeout, so with parts 150 ms apart only a stall of about 1.5 s makes a part
 * fail-safe (failSafeMarginMs). A verdict takes about 10 ms here, p99 about 30 ms, on an idle machine; with
 * 200-300 ms camera-to-gate, parts came 'late' on a loaded one. For lineConfig and the CLI tests' configs.
 */
export const ROOMY_TIMING = {
  tracking: { mode: 'time', distance_mm: 1500, belt_speed_mm_s: 1000 },
  pipeline: { max_in_flight: 12 },
  inference: { timeout_ms: 2000 },
} as const satisfies Partial<ConfigInput>;

/** A fast simulated line: 150 ms between parts, sim gate and confirm sensor, ROOMY_TIMING. */
export function lineConfig(
  over: { images: string; mqttUrl: string; outbox: string } & Partial<ConfigInput>,
): LoadedConfig {
  const { images, mqttUrl, outbox, ...rest } = over;
  const input: ConfigInput = {
    line_id: 'itest',
    model: { bundle: BUNDLE },
    camera: { type: 'folder', path: images, order: 'sequential', loop: true, timeout_ms: 2000 },
    gpio: { type: 'sim', part_interval_ms: 150, part_length_ms: 20, gate_transit_ms: 300, confirm_delay_ms: 30 },
    trigger: { line: 17, debounce_ms: 2, min_spacing_ms: 50 },
    gate: { line: 27, pulse_ms: 30, min_gap_ms: 10, lead_ms: 5 },
    confirm: { line: 22, window_ms: 200 },
    ...ROOMY_TIMING,
    alarms: { consecutive_rejects: 0 },
    mqtt: { url: mqttUrl, outbox_dir: outbox, reconnect_ms: 200 },
    // Beside the outbox directory, so that no two tests share a line record (and its outbox).
    record: { dir: `${outbox}-record` },
    http: { port: 0 }, // any free port: tests run side by side
    ...rest,
  };
  return { config: parseConfig(input), file: path.join(ROOT, 'itest.yaml'), baseDir: ROOT };
}

export function memoryLogger(): { logger: Logger; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface Proc {
  /** Exit code, or null when a signal ended it (then `signal` says which). */
  code: Promise<number | null>;
  signal: () => NodeJS.Signals | null;
  stdout: () => string;
  stderr: () => string;
  kill: (sig: NodeJS.Signals) => void;
}

/** The real CLI from source, as a separate process: signals and exit codes are the real ones. */
export function lineside(args: string[], env: NodeJS.ProcessEnv = {}, onStdout?: (text: string) => void): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let signal: NodeJS.Signals | null = null;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    onStdout?.(out);
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return {
    code: new Promise((resolve) =>
      // 'close', not 'exit': stdout and stderr are complete by then.
      child.on('close', (code, sig) => {
        signal = sig;
        resolve(code);
      }),
    ),
    signal: () => signal,
    stdout: () => out,
    stderr: () => err,
    kill: (sig) => child.kill(sig),
  };
}

/**
 * The longest stall (ms) of a part's capture and inspection that the line in `config` absorbs without a fail-safe
 * reject, the least of: 'late', the verdict not in when the part reaches the gate minus the actuator lead
 * (distance / belt speed - lead); 'overrun', more than max_in_flight parts waiting (max_in_flight x part interval);
 * the camera and inference timeouts. A test that expects no fail-safe rejects compares this with verdict times.
 */
export function failSafeMarginMs(config: Config): number {
  const budgetsMs = [config.camera.timeout_ms, config.inference.timeout_ms];
  if (config.tracking.mode === 'time') {
    budgetsMs.push((config.tracking.distance_mm / config.tracking.belt_speed_mm_s) * 1000 - config.gate.lead_ms);
  }
  if (config.gpio.type === 'sim') budgetsMs.push(config.pipeline.max_in_flight * config.gpio.part_interval_ms);
  return Math.min(...budgetsMs);
}
